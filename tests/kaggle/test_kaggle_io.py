"""Kaggle: credentials, the download (safe extraction, verification, reuse), the bundle, push and submit.

No test reaches the network: the Kaggle client is replaced by fakes where a call would go out.
"""
import json
import zipfile
from pathlib import Path

import pytest

from monet import cli
from monet.core import environment
from monet.data import fetch as data, images
from monet.kaggle import bundle as B, download as K, submit as S


@pytest.fixture()
def no_credentials(monkeypatch, tmp_path):
    for var in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-kaggle-config"))


def test_missing_credentials_is_our_clear_error(no_credentials, capsys):
    assert K.credential_source() is None
    with pytest.raises(K.KaggleError) as err:
        K.api()
    msg = str(err.value)
    for way in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME=<name> KAGGLE_KEY=<key>", "~/.kaggle/access_token",
                "kaggle.json", "KAGGLE_CONFIG_DIR", "join the competition", "data_dir: synthetic"):
        assert way in msg
    assert capsys.readouterr().out == ""  # the kaggle package was not even imported to find this out


def test_bad_credentials_never_exit_the_process(no_credentials, monkeypatch, capsys):
    """The kaggle package ends the process on bad credentials; we turn that into KaggleError, quietly."""
    pytest.importorskip("kaggle")
    monkeypatch.setenv("KAGGLE_USERNAME", "fake-user")
    monkeypatch.setenv("KAGGLE_KEY", "0123456789abcdef0123456789abcdef")
    from kaggle.api import kaggle_api_extended

    def refuse(self):
        print("Authentication required to call the Kaggle API.")
        raise SystemExit(1)

    monkeypatch.setattr(kaggle_api_extended.KaggleApi, "authenticate", refuse)
    capsys.readouterr()  # importing kaggle above printed its notice; only what api() prints counts
    with pytest.raises(K.KaggleError, match="Kaggle refused the credentials from environment variables "
                                            "KAGGLE_USERNAME and KAGGLE_KEY"):
        K.api()
    out = capsys.readouterr()
    assert "Authentication required" not in out.out + out.err
    assert "0123456789abcdef" not in out.out + out.err


def test_credential_sources(no_credentials, monkeypatch, tmp_path):
    config = tmp_path / "no-kaggle-config"
    config.mkdir()
    (config / "access_token").write_text("secret")
    assert K.credential_source() == str(config / "access_token")
    monkeypatch.setenv("KAGGLE_API_TOKEN", "secret")
    assert K.credential_source() == "environment variable KAGGLE_API_TOKEN"


def zip_of(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    return path


@pytest.mark.parametrize("member", ["../evil.txt", "/etc/evil.txt", "monet_jpg/../../evil.txt"])
def test_path_traversal_member_is_refused_before_anything_is_written(tmp_path, member):
    archive = zip_of(tmp_path / "a.zip", {"monet_jpg/ok.jpg": b"x", member: b"evil"})
    with pytest.raises(K.KaggleError, match="refusing member .* would land outside"):
        K.safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()


def test_symlink_member_is_refused(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("monet_jpg/link")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(K.KaggleError, match="refusing member 'monet_jpg/link'"):
        K.safe_extract(archive, tmp_path / "out")


class FakeKaggle:
    """Stands in for KaggleApi: serves a competition zip built from generated data, records calls."""

    def __init__(self, source: Path | None = None, output: Path | None = None):
        self.source, self.output, self.calls = source, output, []

    def competition_download_files(self, competition, path=None, quiet=True, **kwargs):
        self.calls.append(("download", competition))
        with zipfile.ZipFile(Path(path) / f"{competition}.zip", "w") as zf:
            for f in sorted(self.source.rglob("*")):
                if f.is_file() and f.name != "synthetic.json":
                    zf.write(f, f.relative_to(self.source))

    def kernels_output(self, kernel, path, file_pattern=None, **kwargs):
        self.calls.append(("output", kernel))
        if self.output:
            (Path(path) / "images.zip").write_bytes(self.output.read_bytes())
        return [], None

    def kernels_push(self, folder, **kwargs):
        self.calls.append(("push", Path(folder).name))
        return "ok"

    def competition_submit_code(self, **kwargs):
        self.calls.append(("submit", kwargs))
        return "ok"


@pytest.fixture(scope="module")
def competition(tmp_path_factory):
    return data.make_synthetic(tmp_path_factory.mktemp("competition") / "src", n_monet=3, n_photo=5, seed=1)


def test_download_extracts_verifies_and_is_reused(competition, tmp_path):
    fake = FakeKaggle(competition)
    target = tmp_path / "data" / "gan-getting-started"
    K.download_competition(target, expected={"monet": 3, "photo": 5}, client_factory=lambda: fake, log=lambda *_: None)
    assert len(list((target / "photo_jpg").glob("*.jpg"))) == 5 and len(list((target / "photo_tfrec").iterdir())) == 5
    assert json.loads((target / ".download-complete.json").read_text())["counts"] == {"monet": 3, "photo": 5}
    assert not list(target.parent.glob(".download-*"))  # the staging folder is gone
    K.download_competition(target, expected={"monet": 3, "photo": 5}, client_factory=lambda: fake, log=lambda *_: None)
    assert [c[0] for c in fake.calls] == ["download"]  # the complete download was reused


def test_incomplete_download_is_refused(competition, tmp_path):
    target = tmp_path / "data"
    with pytest.raises(K.KaggleError, match="5 photo images where 7,038 were expected"):
        K.download_competition(target, expected={"monet": 3, "photo": 7038},
                               client_factory=lambda: FakeKaggle(competition), log=lambda *_: None)
    assert not (target / ".download-complete.json").exists()


def test_data_dir_semantics(tmp_path, monkeypatch):
    monkeypatch.setenv("MONET_KAGGLE_ROOT", str(tmp_path / "kaggle"))
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    repo = tmp_path / "repo"
    assert data.resolve_data_dir("kaggle", tmp_path, repo) == (repo / "data" / "gan-getting-started", "download")
    assert data.resolve_data_dir(str(tmp_path / "new"), tmp_path, repo)[1] == "download"
    with pytest.raises(images.DataError, match="data_dir: kaggle"):
        data.resolve_data_dir("auto", tmp_path, repo)
    (repo / "data" / "gan-getting-started").mkdir(parents=True)
    (repo / "data" / "gan-getting-started" / ".download-complete.json").write_text("{}")
    assert data.resolve_data_dir("auto", tmp_path, repo)[1] == "folder"
    mount = tmp_path / "kaggle" / "input" / "gan-getting-started"
    mount.mkdir(parents=True)
    assert data.resolve_data_dir("auto", tmp_path, repo) == (mount, "kaggle")
    assert data.resolve_data_dir("kaggle", tmp_path, repo) == (mount, "kaggle")


def test_environment_detection(monkeypatch, tmp_path):
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    assert environment.detect() in ("local", "colab")
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")
    monkeypatch.setenv("MONET_KAGGLE_ROOT", str(tmp_path))
    assert environment.detect() == "kaggle"  # before Colab
    assert environment.default_outputs(Path("/repo")) == tmp_path / "working" / "outputs"
    assert environment.default_time_budget_minutes() == 270
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE")
    monkeypatch.setattr(environment.importlib.util, "find_spec", lambda name: object())
    assert environment.detect() == "colab"
    assert environment.default_download_dir(Path("/repo")) == Path("/content/gan-getting-started")
    assert environment.default_time_budget_minutes() is None


def test_bundle_metadata_and_notebook(tmp_path, repo):
    out = B.bundle(repo / "params" / "exp2.yaml", "some-user", tmp_path / "b", repo=repo)
    meta = json.loads((out / "kernel-metadata.json").read_text())
    assert meta == {
        "id": "some-user/monet-exp2", "title": "monet exp2", "code_file": "monet-exp2.ipynb", "language": "python",
        "kernel_type": "notebook", "is_private": True, "enable_gpu": True, "enable_tpu": False,
        "enable_internet": False, "competition_sources": ["gan-getting-started"], "dataset_sources": [],
        "model_sources": [], "kernel_sources": [], "machine_shape": "NvidiaTeslaT4"}
    assert B.slugify(meta["title"]) == meta["id"].split("/")[1]
    text = (out / "monet-exp2.ipynb").read_text()
    assert "-m pip" not in text and "!pip" not in text  # nothing to install on Kaggle
    assert "data_dir: auto" in text and "disc_filters: 64" in text


def test_bundle_accelerator_sources_and_weights(tmp_path, repo):
    out = B.bundle(repo / "params" / "nst.yaml", "u", tmp_path / "b", repo=repo, overrides=[
        "kaggle.accelerator=tpu", "kaggle.dataset_sources=[someone/vgg19-weights]",
        "nst.vgg_weights=/kaggle/input/vgg19-weights/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"])
    meta = json.loads((out / "kernel-metadata.json").read_text())
    assert (meta["enable_tpu"], meta["enable_gpu"], meta["dataset_sources"]) == (True, False, ["someone/vgg19-weights"])
    with pytest.raises(K.KaggleError, match="nst.vgg_weights is 'imagenet', which needs internet"):
        B.bundle(repo / "params" / "nst.yaml", "u", tmp_path / "c", repo=repo)
    with pytest.raises(K.KaggleError, match="evaluate.weights is 'imagenet'"):
        B.bundle(repo / "params" / "exp1.yaml", "u", tmp_path / "c", repo=repo,
                 overrides=["stages=[fetch, cyclegan_train, package_submission, evaluate]", "evaluate.weights=imagenet"])
    # Kaggle's network (the default 'auto', or 'kaggle') comes from an attached data set: how to make one is said.
    with pytest.raises(K.KaggleError, match="evaluate.weights is 'auto'.*kaggle datasets create.*dataset_sources"):
        B.bundle(repo / "params" / "exp1.yaml", "u", tmp_path / "c", repo=repo,
                 overrides=["stages=[fetch, cyclegan_train, package_submission, evaluate]"])
    B.bundle(repo / "params" / "exp1.yaml", "u", tmp_path / "k", repo=repo,
             overrides=["stages=[fetch, cyclegan_train, package_submission, evaluate]", "evaluate.weights=kaggle",
                        "kaggle.dataset_sources=[u/kaggle-inception-2015]"])
    with pytest.raises(K.KaggleError, match="Kaggle user name"):
        B.bundle(repo / "params" / "exp1.yaml", "not a name", tmp_path / "d", repo=repo)


def test_bundle_attaches_the_extra_paintings_data_sets(tmp_path, repo):
    out = B.bundle(repo / "params" / "exp1.yaml", "u", tmp_path / "b", repo=repo, overrides=[
        "fetch.extra_monet=[kaggle:someone/monet-art/images, kaggle:someone/monet-art/more, /kaggle/input/mine/p]",
        "kaggle.dataset_sources=[me/mine, someone/monet-art]"])
    meta = json.loads((out / "kernel-metadata.json").read_text())
    assert meta["dataset_sources"] == ["me/mine", "someone/monet-art"]  # each data set once
    assert "kaggle:someone/monet-art/images" in (out / "monet-exp1.ipynb").read_text()  # resolved in the kernel
    with pytest.raises(K.KaggleError, match=r"'data/more' is a folder of this machine.*kaggle:OWNER/SLUG"):
        B.bundle(repo / "params" / "exp1.yaml", "u", tmp_path / "c", repo=repo,
                 overrides=["fetch.extra_monet=[data/more]"])
    with pytest.raises(K.KaggleError, match="expected kaggle:OWNER/SLUG"):
        B.extra_monet_sources(["kaggle:no-owner"])


def test_bundle_refuses_a_restart_from_this_machine(tmp_path, repo):
    with pytest.raises(K.KaggleError, match="cyclegan.restart_from 'outputs/cut_kaggle' is a folder of this machine"):
        B.bundle(repo / "params" / "exp1.yaml", "u", tmp_path / "b", repo=repo,
                 overrides=["cyclegan.restart_from=outputs/cut_kaggle"])
    out = B.bundle(repo / "params" / "exp1.yaml", "u", tmp_path / "c", repo=repo,
                   overrides=["cyclegan.restart_from=/kaggle/input/my-run/outputs/exp1"])
    assert "/kaggle/input/my-run/outputs/exp1" in (out / "monet-exp1.ipynb").read_text()


def test_submit_validates_before_submitting(tmp_path):
    from tests.package.test_submission import make_zip

    good = make_zip(tmp_path / "good.zip", 7000)
    fake = FakeKaggle(output=good)
    result = S.submit("me/monet-exp1", version=3, message="exp1 @ abc", client_factory=lambda: fake,
                      log=lambda *_: None)
    assert result["count"] == 7000
    assert fake.calls[-1] == ("submit", {"file_name": "images.zip", "message": "exp1 @ abc",
                                         "competition": "gan-getting-started", "kernel": "me/monet-exp1",
                                         "kernel_version": 3, "quiet": True})
    bad = FakeKaggle(output=make_zip(tmp_path / "bad.zip", 100))
    with pytest.raises(Exception, match="100 images; Kaggle needs 7,000-10,000"):
        S.submit("me/monet-exp1", client_factory=lambda: bad, log=lambda *_: None)
    assert [c[0] for c in bad.calls] == ["output"]  # never submitted
    empty = FakeKaggle()
    with pytest.raises(K.KaggleError, match="has no images.zip in its output"):
        S.submit("me/x", client_factory=lambda: empty, log=lambda *_: None)


def test_push_and_cli_errors(tmp_path, repo, no_credentials, capsys):
    out = B.bundle(repo / "params" / "exp1.yaml", "me", tmp_path / "b", repo=repo)
    fake = FakeKaggle()
    assert S.push(out, client_factory=lambda: fake, log=lambda *_: None)["id"] == "me/monet-exp1"
    assert fake.calls == [("push", "b")]
    assert cli.main(["submit", "--kernel", "me/monet-exp1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no Kaggle credentials found") and "Traceback" not in err

"""Kaggle's API: credentials, the calls (with our own errors), and the competition's download.

The ``kaggle`` package is imported here only, and only when needed: importing it prints a notice and its
``authenticate()`` ends the process (``SystemExit``) when credentials are missing, so both are wrapped and turned
into :class:`KaggleError` with our own message. Credentials are read by the ``kaggle`` package from the
environment or the user's Kaggle config folder; this module only checks that some source exists and never
reads, prints or stores a secret.

The kernel bundle is :mod:`monet.kaggle.bundle`; push and submit, :mod:`monet.kaggle.submit`. Command line:
``python -m monet download|bundle|push|submit --help``.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from monet.core import files
from monet.core.environment import COMPETITION

__all__ = ["KaggleError", "credential_source", "require_credentials", "api", "call", "safe_extract",
           "download_competition", "EXPECTED_COUNTS", "COMPETITION_URL"]

EXPECTED_COUNTS = {"monet": 300, "photo": 7038}
COMPETITION_URL = f"https://www.kaggle.com/competitions/{COMPETITION}"
NO_CREDENTIALS = (
    "no Kaggle credentials found. Provide them in one of these ways:\n"
    "  1. export KAGGLE_API_TOKEN=<token>   (generate one at https://www.kaggle.com/settings/api)\n"
    "  2. export KAGGLE_USERNAME=<name> KAGGLE_KEY=<key>   (the two values of a legacy kaggle.json)\n"
    "  3. save the token as ~/.kaggle/access_token, or kaggle.json as ~/.kaggle/kaggle.json (chmod 600);\n"
    "     KAGGLE_CONFIG_DIR moves that folder\n"
    f"You must also join the competition and accept its rules at {COMPETITION_URL}/rules.\n"
    "Without Kaggle access, data_dir: synthetic runs the whole pipeline offline.")


class KaggleError(RuntimeError):
    """A Kaggle step cannot be done; the message says why and what to do."""


# ----------------------------------------------------------------------------------------- credentials
def _config_dir() -> Path:
    return Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle")).expanduser()


def credential_source() -> str | None:
    """Where the ``kaggle`` package will find credentials (a description, never the secret), or None."""
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "environment variable KAGGLE_API_TOKEN"
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "environment variables KAGGLE_USERNAME and KAGGLE_KEY"
    for name in ("access_token", "kaggle.json"):
        if (_config_dir() / name).is_file():
            return str(_config_dir() / name)
    return None


def require_credentials() -> str:
    source = credential_source()
    if source is None:
        raise KaggleError(NO_CREDENTIALS)
    return source


def api():
    """An authenticated ``KaggleApi``; KaggleError (never SystemExit or the package's notice) otherwise."""
    require_credentials()
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            from kaggle.api.kaggle_api_extended import KaggleApi

            client = KaggleApi()
            client.authenticate()
    except ModuleNotFoundError:
        raise KaggleError("the kaggle package is not installed: python -m pip install kaggle") from None
    except (SystemExit, Exception) as exc:  # noqa: BLE001 - SystemExit is how the package reports bad credentials
        raise KaggleError(f"Kaggle refused the credentials from {credential_source()} "
                          f"({type(exc).__name__}). {NO_CREDENTIALS}") from None
    return client


def call(what: str, fn, *args, **kwargs):
    """Call the Kaggle API quietly; its failures (SystemExit included) become KaggleError."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            return fn(*args, **kwargs)
    except (SystemExit, Exception) as exc:  # noqa: BLE001
        text = str(exc)
        hint = (f" Have you joined the competition and accepted its rules at {COMPETITION_URL}/rules?"
                if "403" in text or "Forbidden" in text else "")
        raise KaggleError(f"Kaggle {what} failed: {type(exc).__name__}: {text[:300]}.{hint}") from None


# ----------------------------------------------------------------------------------------------- data
def safe_extract(zip_path: str | Path, dest: str | Path) -> list[str]:
    """Extract ``zip_path`` into ``dest``, refusing (before writing anything) any member that would land outside
    ``dest``: absolute paths, ``..`` parts, links. Returns the member names."""
    dest = Path(dest).resolve()
    with zipfile.ZipFile(zip_path) as zf:
        infos = zf.infolist()
        for info in infos:
            name = info.filename
            target = (dest / name).resolve()
            is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
            if name.startswith(("/", "\\")) or ".." in Path(name).parts or is_link or not target.is_relative_to(dest):
                raise KaggleError(f"{zip_path}: refusing member {name!r}: it would land outside {dest}")
        dest.mkdir(parents=True, exist_ok=True)
        zf.extractall(dest)
    return [i.filename for i in infos]


def _counts(root: Path) -> dict[str, int]:
    from monet.data.fetch import FOLDERS

    return {d: sum(1 for p in (root / f).iterdir() if p.is_file()) for d, f in FOLDERS.items()}


def download_competition(target: str | Path, expected: dict[str, int] | None = None, client_factory=None,
                         log=print) -> Path:
    """Download and extract the competition into ``target`` once; a complete earlier download is reused.

    The archive is extracted safely into a temporary folder beside ``target``, its layout and image counts are
    checked against ``expected`` (Kaggle's 300 paintings and 7,038 photos), and only then is it moved into place
    with a ``.download-complete.json`` marker. ``client_factory`` (default :func:`api`) is for tests.
    """
    from monet.data.fetch import check_layout

    target = Path(target)
    expected = EXPECTED_COUNTS if expected is None else expected
    marker = target / ".download-complete.json"
    if marker.is_file():
        log(f"Using the complete download in {target}")
        return target
    if target.exists() and any(target.iterdir()):
        raise KaggleError(f"{target} exists, is not empty and holds no complete download: move it away or point "
                          "data_dir at another folder")
    client = (client_factory or api)()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
        log(f"Downloading {COMPETITION} into {target} ...")
        call("download", client.competition_download_files, COMPETITION, path=tmp, quiet=True)
        archives = sorted(Path(tmp).glob("*.zip"))
        if not archives:
            raise KaggleError(f"the download left no zip archive in {tmp}")
        staged = Path(tmp) / "extracted"
        safe_extract(archives[0], staged)
        check_layout(staged)
        counts = _counts(staged)
        short = {d: (counts[d], n) for d, n in expected.items() if counts.get(d) != n}
        if short:
            raise KaggleError("the download is incomplete or not the competition's data: " + ", ".join(
                f"{n_found:,} {d} images where {n_want:,} were expected" for d, (n_found, n_want) in short.items()))
        if target.exists():
            target.rmdir()
        shutil.move(str(staged), str(target))
    files.write_json(marker, {"competition": COMPETITION, "counts": counts})
    return target

"""The README and docs/ link only to what is there: every relative link's file (and, for a link into a Markdown
file, its heading) exists, and every `python -m monet COMMAND` they show is a command the front door has."""
import re
from pathlib import Path

from monet import cli

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    heads = re.findall(r"^#+ (.+)$", page.read_text(), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_every_relative_link_reaches_a_file_and_heading():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+://|mailto:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken


def test_every_command_shown_is_one_the_front_door_has():
    shown = {m for page in PAGES for m in re.findall(r"python -m monet ([a-z]+)", page.read_text())}
    assert shown and shown <= set(cli.COMMANDS) | {"run", "list"}, shown - set(cli.COMMANDS)

"""Markdown documents as tests read them: the YAML blocks a doc shows, to keep them equal to
what a test ran."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import yaml


def yaml_blocks(markdown: Path) -> list:
    """The documents of every ```yaml block of a Markdown file (indented ones too), in order: for
    tests that keep a doc's snippets equal to what they tested."""
    fence = re.compile(r"^[ \t]*```ya?ml[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)
    blocks = [textwrap.dedent(block) for block in fence.findall(markdown.read_text())]
    return [document for block in blocks for document in yaml.safe_load_all(block)]

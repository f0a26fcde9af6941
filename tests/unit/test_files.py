"""`meshtool.files.write`: all or nothing, never overwriting unless asked to."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshtool import files


def test_a_new_file_gets_the_content_and_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "f"
    files.write(path, b"data", replace=False, mode=0o640)
    assert path.read_bytes() == b"data"
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_an_existing_file_is_kept_unless_replace(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        files.write(path, b"new", replace=False)
    assert path.read_bytes() == b"old"
    files.write(path, b"new", replace=True)
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_a_missing_directory_is_an_os_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        files.write(tmp_path / "absent" / "f", b"x", replace=False)
    assert list(tmp_path.iterdir()) == []

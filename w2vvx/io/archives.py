"""Archives from untrusted sources: tar/zip extraction without path traversal, ``.keras`` files in safe mode.

Dataset releases arrive as ``.tar.gz``/``.zip`` files from mirrors and other people's conversions. A
crafted archive can hold members named ``../../.bashrc`` or ``/etc/cron.d/x``, symlinks or hard links
pointing outside the destination, device files, or set-uid bits. :func:`extract_archive` refuses all of
these before writing anything (tar: Python's ``filter="data"`` where available, and the same checks done
by hand otherwise), and extracts into a temporary folder that is moved into place only when every
member was written, so a crash or a bad member never leaves a half-extracted folder.

A ``.keras`` model file is a zip archive too: :func:`load_keras_model` opens it with Keras's safe mode
(a file that would run Python code, such as a ``Lambda`` layer holding a lambda, is refused) and turns
Keras's errors on a damaged or foreign file into messages that say which file and what to do.
"""
from __future__ import annotations

import re
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import List, Optional

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError, UntrustedFileError
from w2vvx.io.atomic import atomic_dir

_ZIP_SUFFIXES = (".zip",)
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def _archive_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(_ZIP_SUFFIXES) or (not name.endswith(_TAR_SUFFIXES) and zipfile.is_zipfile(path)):
        return "zip"
    if name.endswith(_TAR_SUFFIXES) or tarfile.is_tarfile(path):
        return "tar"
    raise DataFormatError("not a tar or zip archive (expected .tar, .tar.gz, .tgz, .tar.bz2, .tar.xz or .zip); "
                          "re-download it, the file may be truncated or an HTML error page", path=path)


def _safe_member_path(name: str, archive: Path) -> PurePosixPath:
    """The member's path relative to the destination; refuse absolute paths and ``..``."""
    normalized = name.replace("\\", "/")
    member = PurePosixPath(normalized)
    if member.is_absolute() or normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        raise UntrustedFileError(f"{archive}: member {name!r} has an absolute path; refusing to extract this "
                                 "archive (it could overwrite files anywhere). Get the archive from a trusted source")
    if ".." in member.parts:
        raise UntrustedFileError(f"{archive}: member {name!r} contains '..' and would be written outside the "
                                 "destination; refusing to extract this archive")
    return member


def _link_target_inside(member: PurePosixPath, target: str, hard: bool, archive: Path, name: str) -> None:
    if not target:
        raise UntrustedFileError(f"{archive}: link {name!r} has an empty target; refusing to extract")
    target_path = PurePosixPath(target.replace("\\", "/"))
    if target_path.is_absolute():
        raise UntrustedFileError(f"{archive}: link {name!r} points to the absolute path {target!r}; refusing to "
                                 "extract (it would reach outside the destination)")
    joined = target_path if hard else member.parent / target_path
    depth = 0
    for part in joined.parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            raise UntrustedFileError(f"{archive}: link {name!r} -> {target!r} points outside the destination; "
                                     "refusing to extract this archive")


def _check_tar_members(handle: tarfile.TarFile, archive: Path) -> List[tarfile.TarInfo]:
    members = handle.getmembers()
    for info in members:
        member = _safe_member_path(info.name, archive)
        if info.issym() or info.islnk():
            _link_target_inside(member, info.linkname, info.islnk(), archive, info.name)
        elif not (info.isfile() or info.isdir()):
            raise UntrustedFileError(f"{archive}: member {info.name!r} is a device, FIFO or other special file; "
                                     "refusing to extract this archive")
    return members


def _extract_tar(archive: Path, dest: Path) -> None:
    try:
        with tarfile.open(archive) as handle:
            members = _check_tar_members(handle, archive)
            if hasattr(tarfile, "data_filter"):
                try:
                    handle.extractall(dest, members=members, filter="data")
                except tarfile.FilterError as error:
                    raise UntrustedFileError(f"{archive}: refused by the tar 'data' filter ({error}); the archive "
                                             "tries to write outside the destination or to create special files") \
                        from None
            else:  # Python < 3.11.4: members were checked above; drop permission bits that matter
                for info in members:
                    if info.isfile() or info.isdir():
                        info.mode = (info.mode & 0o755) | (0o700 if info.isdir() else 0o600)
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                handle.extractall(dest, members=members)
    except (tarfile.ReadError, EOFError) as error:
        raise DataFormatError(f"the tar archive is damaged or truncated ({error}); re-download it",
                              path=archive) from None


def _extract_zip(archive: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as handle:
            infos = handle.infolist()
            for info in infos:
                member = _safe_member_path(info.filename, archive)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    target = handle.read(info).decode("utf-8", errors="replace")
                    _link_target_inside(member, target, False, archive, info.filename)
                    raise UntrustedFileError(f"{archive}: member {info.filename!r} is a symbolic link; zip "
                                             "archives with links are not extracted (unpack it by hand if you "
                                             "trust it)")
                if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    raise UntrustedFileError(f"{archive}: member {info.filename!r} is a special file; refusing "
                                             "to extract this archive")
            for info in infos:
                member = _safe_member_path(info.filename, archive)
                target = dest.joinpath(*member.parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with handle.open(info) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
    except zipfile.BadZipFile as error:
        raise DataFormatError(f"the zip archive is damaged or truncated ({error}); re-download it",
                              path=archive) from None


def extract_archive(path, dest, overwrite: bool = False) -> Path:
    """Extract a tar (``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tar.xz``) or zip archive safely.

    Every member must stay inside ``dest``: absolute paths, ``..`` components, links pointing outside
    and special files (devices, FIFOs) are refused with :class:`~w2vvx.errors.UntrustedFileError`
    before anything is written. ``dest`` appears only once the whole archive is extracted.

    Args:
        path: the archive.
        dest: the folder to create with the archive's content.
        overwrite: replace an existing ``dest``.

    Returns:
        ``dest`` as a ``Path``.

    Raises:
        MissingFileError: the archive does not exist.
        DataFormatError: it is not a tar/zip archive, or is damaged or truncated.
        UntrustedFileError: a member would land outside ``dest`` or is a special file.
        ConfigError: ``dest`` exists and ``overwrite`` is false.

    Example:
        >>> import io, tarfile, tempfile, os
        >>> folder = tempfile.mkdtemp()
        >>> with tarfile.open(os.path.join(folder, "a.tar.gz"), "w:gz") as tar:
        ...     info = tarfile.TarInfo("data/ids.txt"); info.size = 3
        ...     tar.addfile(info, io.BytesIO(b"a b"))
        >>> out = extract_archive(os.path.join(folder, "a.tar.gz"), os.path.join(folder, "out"))
        >>> (out / "data" / "ids.txt").read_text()
        'a b'
    """
    archive = Path(path)
    dest = Path(dest)
    if not archive.is_file():
        raise MissingFileError("archive not found; check the path or download it again", path=archive)
    if dest.exists() and not overwrite:
        raise ConfigError(f"{dest} exists; pass overwrite=True to replace it, or choose another destination")
    kind = _archive_kind(archive)
    with atomic_dir(dest, overwrite=overwrite) as tmp:
        if kind == "zip":
            _extract_zip(archive, tmp)
        else:
            _extract_tar(archive, tmp)
    return dest


def load_keras_model(path, expected_class: Optional[type] = None):
    """Load a ``.keras`` file with ``safe_mode=True``; damaged or foreign files give a clear error.

    Args:
        path: the ``.keras`` file.
        expected_class: if given, the loaded model must be an instance of it (e.g. ``w2vvx.models.Retriever``).

    Raises:
        MissingFileError: no file at ``path``.
        UntrustedFileError: the file holds Python code (e.g. a ``Lambda`` layer with a lambda) that safe
            mode refuses to deserialize.
        DataFormatError: the file is not a Keras model archive, is truncated, or holds another model.

    Example:
        >>> load_keras_model("/nonexistent/best.keras")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        w2vvx.errors.MissingFileError: /nonexistent/best.keras: no .keras model file here
    """
    import keras

    path = Path(path)
    if not path.is_file():
        raise MissingFileError("no .keras model file here; train the model first or check the path", path=path)
    if not zipfile.is_zipfile(path):
        raise DataFormatError("not a Keras model file (a .keras file is a zip archive; this one is damaged, "
                              "truncated or of another format); train again or restore it from a backup", path=path)
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except ValueError as error:
        text = str(error)
        if "safe_mode" in text or "arbitrary code" in text:
            raise UntrustedFileError(
                f"{path}: refused to load: the model contains Python code (e.g. a Lambda layer) that Keras's safe "
                "mode does not deserialize, because loading it could run arbitrary code. Load it yourself with "
                "keras.saving.load_model(path, safe_mode=False) only if you trust its source") from None
        asset = re.search(r"(the vocabulary asset .*?)(?:\n|$)", text)
        if asset:  # a w2vvx asset check failed; Keras wraps it in a ValueError
            raise DataFormatError(asset.group(1), path=path) from None
        raise DataFormatError(f"not a loadable Keras model ({text[:300]}); the file is damaged or was written "
                              "by other code; train again or restore it from a backup", path=path) from None
    except (KeyError, TypeError, OSError, EOFError, zipfile.BadZipFile, AttributeError) as error:
        raise DataFormatError(f"not a loadable Keras model ({type(error).__name__}: {str(error)[:300]}); the file "
                              "is damaged or foreign; train again or restore it from a backup", path=path) from None
    if expected_class is not None and not isinstance(model, expected_class):
        raise DataFormatError(f"holds a {type(model).__name__}, not a {expected_class.__name__}; this file was not "
                              "written by w2vvx training (check the run folder)", path=path)
    return model


__all__ = ["extract_archive", "load_keras_model"]

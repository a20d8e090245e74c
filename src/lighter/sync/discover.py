"""Finding the images a sync source holds: tag lists, directory walks, the YAML file.

Each source kind gives the images in a deterministic order: a registry's tag
list sorted, a directory walked in lexical
order (as Go's ``filepath.WalkDir``), a YAML file in the file's order
(skopeo walks Go maps, whose order is random).

A YAML entry that cannot be listed (unknown repository, refused
credentials) is a *failure* of that entry, returned beside the images
found, so that ``--keep-going`` reports it and syncs the rest; skopeo logs
it and carries on.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lighter.digest import parse_digest
from lighter.errors import (
    ImageNotFoundError,
    InvalidDigestError,
    InvalidInputError,
    InvalidReferenceError,
    LighterError,
)
from lighter.reference import Reference, parse_reference
from lighter.sync.config import RegistryConfig, load_sync_config
from lighter.sync.plan import SourceImage, SourceKind, dir_suffix, go_clean
from lighter.transports import TransportOptions, parse_image_name

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DiscoveryFailure:
    """A part of the source that could not be listed, and why."""

    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class Discovery:
    """What a source holds: images in order, and the parts that could not be listed."""

    images: tuple[SourceImage, ...] = ()
    failures: tuple[DiscoveryFailure, ...] = field(default=())


def _repository(text: str) -> Reference:
    try:
        ref = parse_reference(text, default_tag=False)
    except InvalidReferenceError as exc:
        raise InvalidReferenceError(f"invalid source repository {text!r}: {exc}") from None
    if ref.tag is not None or ref.digest is not None:
        raise InvalidReferenceError(f"invalid source repository {text!r}: names an image, not a repository")
    return ref


def _image(ref: Reference, options: TransportOptions) -> SourceImage:
    # skopeo's suffix for a registry source is the full reference (domain/path:tag or @digest)
    return SourceImage(f"docker://{ref}", str(ref), options)


def repository_tags(repo: Reference, options: TransportOptions) -> list[Reference]:
    """Every tag of a registry repository as a tagged reference, sorted; tags Docker would refuse are skipped.

    Sorted because registries list tags in no promised order (distribution
    answers in storage order): two runs, or two shards, then see the same order.
    """
    tags = sorted(parse_image_name(f"docker://{repo.name}").list_tags(options))
    refs: list[Reference] = []
    for tag in tags:
        try:
            refs.append(repo.with_tag(tag))
        except InvalidReferenceError:
            log.warning("skipping tag %r of %s: not a valid tag", tag, repo.name)
    return refs


def from_registry(source: str, options: TransportOptions) -> Discovery:
    """``--src docker``: one image when SOURCE has a tag or digest, else every tag of the repository."""
    try:
        ref = parse_reference(source, default_tag=False)
    except InvalidReferenceError as exc:
        raise InvalidReferenceError(f"invalid source {source!r} for transport docker: {exc}") from None
    if ref.tag is not None or ref.digest is not None:
        return Discovery((_image(ref, options),))
    images = tuple(_image(tagged, options) for tagged in repository_tags(ref, options))
    if not images:
        raise ImageNotFoundError(f"no images to sync found in {source!r}")
    return Discovery(images)


def _walk(directory: str) -> Iterator[str]:
    """Directories holding a ``manifest.json``, as Go's WalkDir + SkipDir finds them (lexical order)."""
    with os.scandir(directory) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        path = os.path.join(directory, entry.name)
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(path)
        elif entry.name == "manifest.json":
            yield directory
            return  # SkipDir on a file: the rest of this directory is not walked


def from_directory(source: str) -> Discovery:
    """``--src dir``: every ``dir:`` image below SOURCE (or SOURCE itself)."""
    if not os.path.isdir(source):
        raise InvalidInputError(f"invalid source directory {source!r}: not a directory")
    found = [go_clean(path) for path in _walk(go_clean(source))]
    if not found:
        raise ImageNotFoundError(f"no images to sync found in {source!r}")
    return Discovery(tuple(SourceImage(f"dir:{path}", dir_suffix(path, source)) for path in found))


def _registry_options(cfg: RegistryConfig, options: TransportOptions) -> TransportOptions:
    """The CLI's source options, overridden by what the registry's entry gives."""
    return dataclasses.replace(
        options,
        creds=cfg.creds or options.creds,
        tls_verify=options.tls_verify if cfg.tls_verify is None else cfg.tls_verify,
        cert_dir=cfg.cert_dir or options.cert_dir,
    )


def _pinned(repo: Reference, ref: str) -> Reference:
    """A YAML ``images`` entry: a digest if it parses as one, else a tag."""
    try:
        return repo.with_digest(parse_digest(ref))
    except InvalidDigestError:
        pass
    try:
        return repo.with_tag(ref)
    except InvalidReferenceError as exc:
        raise InvalidReferenceError(f"invalid tag or digest {ref!r} for {repo.name}: {exc}") from None


@dataclass(frozen=True, slots=True)
class _Entry:
    """One repository named by the YAML file: pinned references, or a filter over its tag list."""

    repo: Reference
    pinned: tuple[Reference, ...] = ()
    keep: Callable[[str], bool] | None = None

    def references(self, options: TransportOptions) -> list[Reference]:
        if self.pinned:
            return list(self.pinned)
        tagged = repository_tags(self.repo, options)
        return [r for r in tagged if self.keep is None or (r.tag is not None and self.keep(r.tag))]


def _regex_filter(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    # Go's MatchString: the pattern may match anywhere in the tag
    return lambda tag: pattern.search(tag) is not None


def _entries(cfg: RegistryConfig) -> list[_Entry]:
    """Every repository entry of one registry, in file order; names and pinned refs checked now."""
    entries: list[_Entry] = []
    for name, refs in cfg.images:
        repo = _repository(f"{cfg.registry}/{name}")
        entries.append(_Entry(repo, tuple(_pinned(repo, ref) for ref in refs)))
    for name, pattern in cfg.images_by_tag_regex:
        entries.append(_Entry(_repository(f"{cfg.registry}/{name}"), keep=_regex_filter(pattern)))
    for name, constraint in cfg.images_by_semver:
        entries.append(_Entry(_repository(f"{cfg.registry}/{name}"), keep=constraint.check))
    return entries


def from_yaml(path: str, options: TransportOptions) -> Discovery:
    """``--src yaml``: the images the file names, each registry with its own options."""
    images: list[SourceImage] = []
    failures: list[DiscoveryFailure] = []
    for cfg in load_sync_config(path):
        opts = _registry_options(cfg, options)
        entries = _entries(cfg)
        if not entries:
            log.warning("no images specified for registry %s", cfg.registry)
        for entry in entries:
            try:
                found = entry.references(opts)
            except (LighterError, OSError) as exc:
                name = entry.repo.name
                failures.append(DiscoveryFailure(f"docker://{name}", f"cannot list tags of {name}: {exc}"))
                continue
            if not found:
                log.warning("no tags to sync found in %s", entry.repo.name)
            images.extend(_image(ref, opts) for ref in found)
    return Discovery(tuple(images), tuple(failures))


def discover(kind: SourceKind, source: str, options: TransportOptions) -> Discovery:
    """The images ``source`` holds, for ``--src kind``."""
    if kind == "docker":
        return from_registry(source, options)
    if kind == "dir":
        return from_directory(source)
    return from_yaml(source, options)

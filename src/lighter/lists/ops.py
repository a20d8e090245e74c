"""List edits as small frozen values, applied to an index to give a new one.  Pure: no I/O.

A list in the store is an ``Index`` plus the instance → location map (where
each instance was added from, so a push can fetch its blobs).  Every edit
is one op; ``apply`` returns the new state and never changes the old one,
so an edit can be retried on a freshly loaded list (that is what the
per-record lock makes safe).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lighter import mediatype as mt
from lighter.digest import Digest
from lighter.errors import InstanceNotInListError, UnsupportedError
from lighter.manifest import COMPRESSION_ANNOTATION, Descriptor, Index
from lighter.platform import Platform


@dataclass(frozen=True, slots=True)
class ListState:
    """A manifest list and where its instances live."""

    index: Index
    locations: Mapping[Digest, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class PlatformChange:
    """Platform fields to set; ``None`` leaves a field as it is."""

    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] | None = None
    features: tuple[str, ...] | None = None

    def __bool__(self) -> bool:
        return any(getattr(self, name) is not None for name in self.__slots__)

    def applied_to(self, platform: Platform | None) -> Platform:
        base = platform or Platform(os="", architecture="")
        return Platform(
            os=base.os if self.os is None else self.os,
            architecture=base.architecture if self.architecture is None else self.architecture,
            variant=base.variant if self.variant is None else self.variant,
            os_version=base.os_version if self.os_version is None else self.os_version,
            os_features=base.os_features if self.os_features is None else self.os_features,
            features=base.features if self.features is None else self.features,
        )


@dataclass(frozen=True, slots=True)
class AddInstance:
    """Add an instance (or refresh it, when its digest is already listed), recording where it lives."""

    descriptor: Descriptor
    location: str


@dataclass(frozen=True, slots=True)
class RemoveInstance:
    digest: Digest


@dataclass(frozen=True, slots=True)
class Annotate:
    """Set annotations (merged) and platform fields of an instance, or of the index when ``digest`` is None."""

    digest: Digest | None
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)
    platform: PlatformChange = field(default_factory=PlatformChange)


Op = AddInstance | RemoveInstance | Annotate


def _docker_safe(index: Index, desc: Descriptor) -> Descriptor:
    """Docker manifest lists carry no annotations; keep OCI-only fields out of them."""
    if index.is_oci:
        return desc
    return desc.evolve(annotations={}, artifact_type=None)


def _add(state: ListState, op: AddInstance) -> ListState:
    desc = _docker_safe(state.index, op.descriptor)
    manifests = list(state.index.manifests)
    for i, existing in enumerate(manifests):
        if existing.digest == desc.digest:
            manifests[i] = desc
            break
    else:
        manifests.append(desc)
    locations = dict(state.locations)
    locations.setdefault(desc.digest, op.location)  # the first place an instance was found stays its home
    return ListState(state.index.evolve(manifests=tuple(manifests)), locations)


def _remove(state: ListState, op: RemoveInstance) -> ListState:
    if state.index.find(op.digest) is None:
        raise InstanceNotInListError(f"{op.digest} is not one of its {len(state.index.manifests)} instances")
    manifests = tuple(m for m in state.index.manifests if m.digest != op.digest)
    locations = {d: loc for d, loc in state.locations.items() if d != op.digest}
    return ListState(state.index.evolve(manifests=manifests), locations)


def _annotate(state: ListState, op: Annotate) -> ListState:
    index = state.index
    if op.annotations and not index.is_oci:
        raise UnsupportedError(
            f"the manifest list is a {index.media_type}, which has no annotations: recreate it as an OCI index"
        )
    if op.digest is None:
        if op.platform:
            raise UnsupportedError("platform fields belong to instances, not to the index: name an instance digest")
        return ListState(index.evolve(annotations={**index.annotations, **op.annotations}), state.locations)
    found = index.find(op.digest)
    if found is None:
        raise InstanceNotInListError(f"{op.digest} is not one of its {len(index.manifests)} instances")
    changed = found.evolve(
        annotations={**found.annotations, **op.annotations},
        platform=op.platform.applied_to(found.platform) if op.platform else found.platform,
    )
    manifests = tuple(changed if m.digest == op.digest else m for m in index.manifests)
    return ListState(index.evolve(manifests=manifests), state.locations)


def apply(state: ListState, op: Op) -> ListState:
    """The list after one edit."""
    if isinstance(op, AddInstance):
        return _add(state, op)
    if isinstance(op, RemoveInstance):
        return _remove(state, op)
    return _annotate(state, op)


def is_zstd_variant(desc: Descriptor) -> bool:
    """containers/image marks an instance that needs zstd support with this annotation set to "true"."""
    return desc.annotations.get(COMPRESSION_ANNOTATION) == "true"


def zstd_last(manifests: tuple[Descriptor, ...]) -> tuple[Descriptor, ...]:
    """Stable order with zstd variants after the others, as containers/image writes them."""
    return tuple(sorted(manifests, key=is_zstd_variant))


def new_index(oci: bool = True) -> Index:
    """An empty list."""
    return Index(media_type=mt.OCI_INDEX if oci else mt.DOCKER_LIST, manifests=())

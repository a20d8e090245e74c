"""Table tests of the pure copy plan: what moves, what converts, what is refused."""

from __future__ import annotations

import pytest

from lighter import mediatype as mt
from lighter.compression import Algorithm
from lighter.copy import CopyOptions, LayerAction, ListPlan, image_actions, plan_list
from lighter.copy.plan import check_instances, layer_action, target_flavour
from lighter.digest import digest_bytes
from lighter.errors import DigestChangeError, ManifestNotFoundError, NoMatchingPlatformError, UnsupportedError
from lighter.manifest import COMPRESSION_ANNOTATION, Descriptor, ImageManifest, Index, build_image_manifest, build_index
from lighter.platform import Platform, parse_platform
from lighter.transports import Capabilities

ANY = Capabilities()
OCI_ONLY = Capabilities(manifest_types=(mt.OCI_MANIFEST, mt.OCI_INDEX))
DOCKER_ARCHIVE = Capabilities(manifest_types=(mt.DOCKER_MANIFEST,), accepts_lists=False, layer_compression="decompress")
AMD64 = parse_platform("linux/amd64")


def _desc(
    media_type: str, seed: str, platform: str | None = None, annotations: dict[str, str] | None = None
) -> Descriptor:
    return Descriptor(
        media_type,
        digest_bytes(seed.encode()),
        100,
        platform=parse_platform(platform) if platform else None,
        annotations=annotations or {},
    )


def _image(oci: bool = True, compression: Algorithm = "gzip") -> ImageManifest:
    layer_type = mt.layer_type(oci, compression)
    config = _desc(mt.OCI_CONFIG if oci else mt.DOCKER_CONFIG, "config")
    return build_image_manifest(config, [_desc(layer_type, "l1"), _desc(layer_type, "l2")], oci=oci)


def _index(platforms: list[str], oci: bool = True, extra: list[Descriptor] | None = None) -> Index:
    kind = mt.OCI_MANIFEST if oci else mt.DOCKER_MANIFEST
    manifests = [_desc(kind, p, p) for p in platforms] + (extra or [])
    return build_index(manifests, oci=oci)


@pytest.mark.parametrize(
    ("media_type", "options", "caps", "expected"),
    [
        (mt.OCI_MANIFEST, CopyOptions(), ANY, None),
        (mt.DOCKER_MANIFEST, CopyOptions(), ANY, None),
        (mt.DOCKER_MANIFEST, CopyOptions(), OCI_ONLY, True),
        (mt.DOCKER_LIST, CopyOptions(), OCI_ONLY, True),
        (mt.OCI_MANIFEST, CopyOptions(), DOCKER_ARCHIVE, False),
        (mt.OCI_MANIFEST, CopyOptions(format="v2s2"), ANY, False),
        (mt.DOCKER_MANIFEST, CopyOptions(format="oci"), ANY, True),
        (mt.OCI_MANIFEST, CopyOptions(format="oci"), ANY, None),
    ],
)
def test_target_flavour(media_type: str, options: CopyOptions, caps: Capabilities, expected: bool | None) -> None:
    assert target_flavour(media_type, options, caps) is expected


@pytest.mark.parametrize(
    ("layer_type", "options", "caps", "to_docker", "expected"),
    [
        (mt.OCI_LAYER_GZIP, CopyOptions(), ANY, False, LayerAction("keep")),
        (mt.OCI_LAYER_GZIP, CopyOptions(compression="gzip"), ANY, False, LayerAction("keep")),
        (mt.OCI_LAYER_GZIP, CopyOptions(compression="zstd"), ANY, False, LayerAction("recompress", "zstd")),
        (mt.OCI_LAYER_ZSTD, CopyOptions(compression="gzip"), ANY, False, LayerAction("recompress", "gzip")),
        (mt.OCI_LAYER_GZIP, CopyOptions(compression="none"), ANY, False, LayerAction("decompress")),
        (mt.OCI_LAYER, CopyOptions(compression="gzip"), ANY, False, LayerAction("recompress", "gzip")),
        (mt.DOCKER_LAYER_GZIP, CopyOptions(), DOCKER_ARCHIVE, True, LayerAction("decompress")),
        (mt.DOCKER_LAYER, CopyOptions(), DOCKER_ARCHIVE, True, LayerAction("keep")),
        (mt.IN_TOTO, CopyOptions(compression="zstd"), ANY, False, LayerAction("keep")),
    ],
)
def test_layer_action(
    layer_type: str, options: CopyOptions, caps: Capabilities, to_docker: bool, expected: LayerAction
) -> None:
    assert layer_action(_desc(layer_type, "x"), options, caps, to_docker) == expected


def test_zstd_cannot_go_to_docker() -> None:
    with pytest.raises(UnsupportedError, match="--dest-compress-format gzip"):
        layer_action(_desc(mt.OCI_LAYER_ZSTD, "x"), CopyOptions(), ANY, to_docker=True)
    with pytest.raises(UnsupportedError, match="--format oci"):
        layer_action(_desc(mt.DOCKER_LAYER_GZIP, "x"), CopyOptions(compression="zstd"), ANY, to_docker=True)


def test_preserve_digests_refuses_conversion_and_recompression() -> None:
    image = _image(oci=True)
    assert image_actions(image, CopyOptions(preserve_digests=True), ANY) == (None, [LayerAction("keep")] * 2)
    with pytest.raises(DigestChangeError, match="Docker v2s2"):
        image_actions(image, CopyOptions(preserve_digests=True, format="v2s2"), ANY)
    with pytest.raises(DigestChangeError, match="recompressed"):
        image_actions(image, CopyOptions(preserve_digests=True, compression="zstd"), ANY)


def test_system_mode_picks_one_instance() -> None:
    index = _index(["linux/amd64", "linux/arm64", "linux/arm/v7"])
    chosen = plan_list(index, CopyOptions(), ANY, parse_platform("linux/arm64"))
    assert isinstance(chosen, Descriptor)
    assert chosen.platform == parse_platform("linux/arm64")


def test_system_mode_never_picks_zstd_variants_or_attestations() -> None:
    zstd = _desc(mt.OCI_MANIFEST, "z", "linux/amd64", {COMPRESSION_ANNOTATION: "true"})
    attestation = _desc(mt.OCI_MANIFEST, "a", "unknown/unknown")
    index = build_index([zstd, attestation, _desc(mt.OCI_MANIFEST, "g", "linux/amd64")])
    chosen = plan_list(index, CopyOptions(), ANY, AMD64)
    assert isinstance(chosen, Descriptor)
    assert chosen.digest == digest_bytes(b"g")


def test_all_and_index_only() -> None:
    index = _index(["linux/amd64", "linux/arm64"])
    plan = plan_list(index, CopyOptions(multi_arch="all"), ANY, AMD64)
    assert plan == ListPlan(instances=index.manifests, list_mode="keep", to_oci=None, sparse=False)
    plan = plan_list(index, CopyOptions(multi_arch="index-only"), ANY, AMD64)
    assert plan == ListPlan(instances=(), list_mode="keep", to_oci=None, sparse=True)


def test_platform_selection_keeps_or_strips_the_list() -> None:
    index = _index(["linux/amd64", "linux/arm64", "linux/s390x"])
    wanted = (parse_platform("linux/arm64"), parse_platform("linux/s390x"))
    plan = plan_list(index, CopyOptions(platforms=wanted), ANY, AMD64)
    assert isinstance(plan, ListPlan)
    assert [str(d.platform) for d in plan.instances] == ["linux/arm64", "linux/s390x"]
    assert plan.list_mode == "keep" and plan.sparse
    plan = plan_list(index, CopyOptions(platforms=wanted, strip_removed_platforms=True), ANY, AMD64)
    assert isinstance(plan, ListPlan) and plan.list_mode == "strip" and not plan.sparse


def test_selecting_every_instance_is_not_sparse() -> None:
    """--platform/--instance naming every instance (once or twice) copies the whole list."""
    index = _index(["linux/amd64", "linux/arm64"])
    everything = (parse_platform("linux/arm64"), parse_platform("linux/amd64"), parse_platform("linux/arm64"))
    plan = plan_list(index, CopyOptions(platforms=everything), ANY, AMD64)
    assert isinstance(plan, ListPlan) and len(plan.instances) == 2 and not plan.sparse
    plan = plan_list(index, CopyOptions(instances=(index.manifests[0].digest,)), ANY, AMD64)
    assert isinstance(plan, ListPlan) and plan.sparse


def test_instance_selection_by_digest() -> None:
    index = _index(["linux/amd64", "linux/arm64"])
    digest = index.manifests[1].digest
    plan = plan_list(index, CopyOptions(instances=(digest,)), ANY, AMD64)
    assert isinstance(plan, ListPlan) and [d.digest for d in plan.instances] == [digest]
    with pytest.raises(ManifestNotFoundError, match="not in the manifest list"):
        plan_list(index, CopyOptions(instances=(digest_bytes(b"nope"),)), ANY, AMD64)


def test_missing_platform_names_the_available_ones() -> None:
    index = _index(["linux/amd64", "linux/arm64"])
    with pytest.raises(NoMatchingPlatformError, match=r"linux/amd64, linux/arm64"):
        plan_list(index, CopyOptions(platforms=(parse_platform("linux/ppc64le"),)), ANY, AMD64)


def test_lists_refused_where_not_accepted() -> None:
    index = _index(["linux/amd64"])
    with pytest.raises(UnsupportedError, match="cannot store a manifest list"):
        plan_list(index, CopyOptions(multi_arch="all"), DOCKER_ARCHIVE, AMD64)
    chosen = plan_list(index, CopyOptions(), DOCKER_ARCHIVE, AMD64)
    assert isinstance(chosen, Descriptor)


def test_list_conversion_and_preserve_digests() -> None:
    index = _index(["linux/amd64"], oci=False)
    plan = plan_list(index, CopyOptions(multi_arch="all"), OCI_ONLY, AMD64)
    assert isinstance(plan, ListPlan) and plan.to_oci is True
    with pytest.raises(DigestChangeError, match="rewrite the manifest list"):
        plan_list(index, CopyOptions(multi_arch="all", preserve_digests=True), OCI_ONLY, AMD64)


def test_arm_variant_fallback() -> None:
    index = _index(["linux/arm/v5", "linux/arm/v6"])
    chosen = plan_list(index, CopyOptions(), ANY, Platform("linux", "arm", "v7"))
    assert isinstance(chosen, Descriptor) and chosen.platform == parse_platform("linux/arm/v6")


def test_check_instances_judges_every_instance_before_the_copy() -> None:
    """A list copy is refused as a whole when any one instance would be, whichever comes first."""
    zstd, gzip = _image(compression="zstd"), _image(compression="gzip")
    wanted = CopyOptions(multi_arch="all", compression="zstd")
    check_instances([zstd, gzip], wanted, ANY)  # no promise to keep digests: recompressing is fine
    with pytest.raises(DigestChangeError, match=f"layer {gzip.layers[0].digest} would be recompressed"):
        check_instances([zstd, gzip], CopyOptions(multi_arch="all", compression="zstd", preserve_digests=True), ANY)
    check_instances([zstd, zstd], CopyOptions(multi_arch="all", compression="zstd", preserve_digests=True), ANY)
    with pytest.raises(UnsupportedError, match="zstd-compressed"):
        check_instances([gzip, zstd], CopyOptions(multi_arch="all", format="v2s2"), ANY)
    nested = _index(["linux/amd64"])
    check_instances([nested], CopyOptions(preserve_digests=True, compression="zstd"), ANY)  # lists: their own plan

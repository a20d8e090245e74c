"""``sync``: mirror whole repositories between registries and directories, as ``skopeo sync``.

A sync is split into independent per-image units (``plan_units``, pure), so
a job runner can shard it (``select_shard``), and each unit is checked with
one HEAD per side before anything moves (``run_units``): running a sync
twice costs the second time one HEAD per tag and side.
"""

from lighter.sync.config import RegistryConfig, load_sync_config, parse_sync_config
from lighter.sync.discover import Discovery, DiscoveryFailure, discover
from lighter.sync.job import sync
from lighter.sync.ledger import BlobLedger, LedgerDestination
from lighter.sync.plan import (
    DestKind,
    SourceImage,
    SourceKind,
    SyncUnit,
    check_kinds,
    parse_shard,
    plan_units,
    select_shard,
    shard_of,
)
from lighter.sync.run import Status, SyncOptions, SyncReport, UnitResult, run_units, sync_unit
from lighter.sync.semver import Constraint, parse_constraint

__all__ = [
    "BlobLedger",
    "Constraint",
    "DestKind",
    "Discovery",
    "DiscoveryFailure",
    "LedgerDestination",
    "RegistryConfig",
    "SourceImage",
    "SourceKind",
    "Status",
    "SyncOptions",
    "SyncReport",
    "SyncUnit",
    "UnitResult",
    "check_kinds",
    "discover",
    "load_sync_config",
    "parse_constraint",
    "parse_shard",
    "parse_sync_config",
    "plan_units",
    "run_units",
    "select_shard",
    "shard_of",
    "sync",
    "sync_unit",
]

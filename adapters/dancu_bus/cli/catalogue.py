"""``dancu-bus catalogue load|convert|show``: publish the Art. 6 catalogues, convert communes, show codes."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dancu_bus.admin.catalogues import CatalogueLoad, load_catalogues
from dancu_bus.catalogues import (
    DVHC_2004,
    Catalogue,
    CatalogueEntry,
    CatalogueView,
    CommuneConversion,
    apply_remaps,
    catalogue_named,
    convert_commune,
    load_entries,
    packaged_view,
    parse_remaps,
    unconvertible_communes,
)
from dancu_bus.catalogues.data import CONVERSION_FIXES
from dancu_bus.errors import ConfigError, InvalidCode
from dancu_bus.operations import platform_codec
from dancu_bus.settings import Settings

__all__ = ["register", "run_convert", "run_load", "run_show"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``catalogue load``, ``catalogue convert`` and ``catalogue show``."""
    catalogue = commands.add_parser("catalogue", help="the shared catalogues of Art. 6")
    actions = catalogue.add_subparsers(dest="catalogue_command", required=True)
    load = actions.add_parser(
        "load", help="publish the catalogues to their topics (only new or changed entries)"
    )
    load.add_argument(
        "--remaps", type=Path, default=None, metavar="CSV", help="remap provisional codes to national ones"
    )
    load.set_defaults(run=run_load)
    convert = actions.add_parser("convert", help="the DVHC-2025 commune(s) of DVHC-2004 communes")
    convert.add_argument("codes", nargs="*", metavar="COMMUNE", help="5-digit DVHC-2004 commune codes")
    convert.add_argument(
        "--unconvertible", action="store_true", help="list the DVHC-2004 communes the data gives no successor"
    )
    convert.set_defaults(run=run_convert)
    show = actions.add_parser("show", help="a code's names, parents, dates and flags")
    show.add_argument("catalogue", help="e.g. commune, ethnic_group, country")
    show.add_argument("code")
    show.add_argument("--scheme", default=None, help="e.g. DVHC-2004 (default: the catalogue's own)")
    show.set_defaults(run=run_show)


def run_load(args: argparse.Namespace, settings: Settings) -> int:
    """Publish every catalogue; print what each topic got and how long it took."""
    entries: list[CatalogueEntry] = list(load_entries())
    if args.remaps is not None:
        entries = apply_remaps(entries, parse_remaps(_read(args.remaps), str(args.remaps)))
    started = time.perf_counter()
    loads = load_catalogues(settings.kafka, platform_codec(), entries)
    elapsed = time.perf_counter() - started
    for done in loads:
        print(_load_line(done))
    produced = sum(d.produced for d in loads)
    unchanged = len(entries) - produced
    print(f"{len(entries):,} entries, {produced:,} produced, {unchanged:,} unchanged, {elapsed:.1f} s")
    return 0


def _read(path: Path) -> str:
    """A file's text; ConfigError when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _load_line(done: CatalogueLoad) -> str:
    """One topic's result."""
    extra = f", {done.only_on_topic:,} kept that the data no longer has" if done.only_on_topic else ""
    counts = f"{done.entries:,} entries, {done.produced:,} produced, {done.unchanged:,} unchanged"
    return f"{done.topic}: {counts}{extra}"


def run_convert(args: argparse.Namespace, _settings: Settings) -> int:
    """Print each commune's DVHC-2025 candidates, or the communes that have none."""
    view = packaged_view()
    if not args.codes and not args.unconvertible:
        raise ConfigError("give DVHC-2004 commune codes, or --unconvertible")
    for code in args.codes:
        print("\n".join(describe_conversion(convert_commune(code, view), view)))
    if args.unconvertible:
        print("\n".join(describe_unconvertible(view)))
    return 0


def describe_unconvertible(view: CatalogueView) -> list[str]:
    """The DVHC-2004 communes without a DVHC-2025 commune, and the table rows corrected to find them."""
    orphans = unconvertible_communes(view)
    lines = [f"{DVHC_2004} communes with no DVHC-2025 commune in the conversion table: {len(orphans)}"]
    lines += [f"  {describe_unit(entry, view)}" for entry in orphans]
    lines.append(
        f"conversion table rows whose old code is another commune's, corrected: {len(CONVERSION_FIXES)}"
    )
    lines += [
        f"  {printed} {name} → {new}: read as {fixed}"
        for (printed, name, new), fixed in sorted(CONVERSION_FIXES.items())
    ]
    return lines


def describe_conversion(conversion: CommuneConversion, view: CatalogueView) -> list[str]:
    """Lines telling what a DVHC-2004 commune became."""
    lines = [describe_unit(conversion.source, view)]
    if not conversion.converted:
        return [*lines, "  no DVHC-2025 commune in the conversion table"]
    if conversion.ambiguous:
        count = len(conversion.candidates)
        lines.append(f"  split over {count} DVHC-2025 communes: the person may live in any of them")
    for candidate in conversion.candidates:
        note = f" ({candidate.note})" if candidate.note else ""
        lines.append(f"  → {describe_unit(candidate.commune, view)}: {candidate.relation.value}{note}")
    return lines


def describe_unit(entry: CatalogueEntry, view: CatalogueView) -> str:
    """``SCHEME commune CODE Name (district …, province …)``."""
    parents = []
    if entry.district_code is not None:
        parents.append(_parent(view, Catalogue.DISTRICT, entry.district_code, entry.scheme))
    if entry.province_code is not None:
        parents.append(_parent(view, Catalogue.PROVINCE, entry.province_code, entry.scheme))
    where = f" ({', '.join(parents)})" if parents else ""
    return f"{entry.scheme} {entry.catalogue.noun} {entry.code} {entry.name_vi}{where}"


def _parent(view: CatalogueView, catalogue: Catalogue, code: str, scheme: str) -> str:
    """``district 001 Quận Ba Đình``."""
    label = view.label(catalogue, code, scheme)
    return f"{catalogue.noun} {code} {label.vi if label else '?'}"


def run_show(args: argparse.Namespace, _settings: Settings) -> int:
    """Print one entry of the packaged catalogues."""
    try:
        catalogue = catalogue_named(args.catalogue)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    view = packaged_view()
    entry = view.get(catalogue, args.code, args.scheme)
    if entry is None:
        raise InvalidCode(catalogue.value, f"{args.code} is not a code of the {catalogue.noun} catalogue")
    print(describe_unit(entry, view))
    for name in ("name_en", "unit_type", "alternate_codes", "former_names", "effective_from", "effective_to"):
        value = getattr(entry, name)
        if value:
            print(f"  {name}: {', '.join(value) if isinstance(value, tuple) else value}")
    print(f"  provisional: {entry.provisional}, official: {entry.official}")
    for successor in entry.successors:
        print(f"  successor: {successor.scheme} {successor.code} ({successor.relation.value})")
    return 0

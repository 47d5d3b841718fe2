"""A deterministic synthetic population: households of citizens with plausible names, codes and ids.

Pure: the same ``count`` and ``seed`` give the same citizens in the same order, and a shorter run is a
prefix of a longer one. The only input besides the seed is the shared catalogues (``dancu_bus.catalogues``).
"""

from __future__ import annotations

from bisect import bisect
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from itertools import accumulate, islice
from random import Random
from typing import Generic, TypeVar

from dancu_bus.catalogues import DVHC_2004, DVHC_2025, Catalogue, CatalogueView, packaged_view
from dancu_bus.contracts import DISCLOSABLE_FIELDS, Address, Citizen, Provenance
from dancu_bus.personal_id import compose
from dancu_bus.store import names

__all__ = [
    "CIVIL_STATUS",
    "POPULATION_DB",
    "PROVINCE_POPULATION_2004",
    "REFERENCE_DAY",
    "RESIDENCE",
    "TELECOM",
    "generate",
    "serial",
]

T = TypeVar("T")

# Sources of provenance.
POPULATION_DB = "CSDLQG-DC"  # Cơ sở dữ liệu quốc gia về dân cư: the national population database
CIVIL_STATUS = "BO-TU-PHAP-HO-TICH"  # hộ tịch: the civil-status registry (births, deaths)
RESIDENCE = "BO-CONG-AN-CU-TRU"  # cư trú: the residence registry (addresses, households)
TELECOM = "NHA-MANG"  # nhà mạng: the mobile operators (subscriber phone numbers)

REFERENCE_DAY = date(2026, 11, 1)  # ages are counted at this day; no provenance is later
FIRST_BIRTH_YEAR, LAST_BIRTH_YEAR = 1930, 2024
_DATABASE_LIVE = date(2021, 7, 1).toordinal()  # the population database went into service
_SCHEME_2025 = date(2025, 7, 1).toordinal()  # addresses were converted to DVHC-2025 from this day
_PHONES_REGISTERED = date(2018, 1, 1).toordinal()
_DAYS_14_YEARS = 14 * 365 + 4
# (first day as an ordinal, number of days) of each birth year
_YEARS = {
    year: (date(year, 1, 1).toordinal(), date(year + 1, 1, 1).toordinal() - date(year, 1, 1).toordinal())
    for year in range(FIRST_BIRTH_YEAR, LAST_BIRTH_YEAR + 1)
}
_LAST_DAY = REFERENCE_DAY.toordinal()

# Which registry vouches for each disclosable field.
_FIELD_GROUP: Mapping[str, str] = {
    "full_name": "civil",
    "birth_date": "civil",
    "sex": "civil",
    "ethnic_group": "population",
    "religion": "population",
    "nationality": "population",
    "permanent_address": "residence",
    "household_id": "residence",
    "household_relation": "residence",
    "phone": "phone",
    "status": "status",
}

# Household relation codes (household_relations.csv) that the generator uses.
_HEAD, _WIFE, _HUSBAND, _FATHER, _MOTHER, _CHILD = "01", "02", "03", "04", "05", "14"
_GRANDCHILD, _ELDER_BROTHER, _ELDER_SISTER, _YOUNGER_SIBLING, _LODGER = "24", "27", "28", "29", "43"

# Population of each DVHC-2004 province at the 2019 census, in thousands.
PROVINCE_POPULATION_2004: Mapping[str, float] = {
    "01": 8054, "02": 855, "04": 531, "06": 314, "08": 785, "10": 731, "11": 599, "12": 461,
    "14": 1249, "15": 822, "17": 855, "19": 1287, "20": 782, "22": 1321, "24": 1804, "25": 1464,
    "26": 1152, "27": 1369, "30": 1893, "31": 2029, "33": 1253, "34": 1861, "35": 853, "36": 1781,
    "37": 983, "38": 3641, "40": 3328, "42": 1289, "44": 896, "45": 633, "46": 1129, "48": 1135,
    "49": 1496, "51": 1232, "52": 1487, "54": 873, "56": 1232, "58": 591, "60": 1231, "62": 541,
    "64": 1514, "66": 1870, "67": 623, "68": 1297, "70": 995, "72": 1170, "74": 2427, "75": 3097,
    "77": 1149, "79": 8993, "80": 1689, "82": 1765, "83": 1289, "84": 1010, "86": 1022, "87": 1600,
    "89": 1909, "91": 1724, "92": 1236, "93": 734, "94": 1200, "95": 908, "96": 1194,
}  # fmt: skip

# Per mille of the population at the 2019 census; other official groups share what is left.
_ETHNIC_PER_MILLE: Mapping[str, float] = {
    "01": 853.2, "02": 19.2, "03": 18.5, "04": 7.8, "05": 13.6, "06": 13.1, "07": 11.0, "08": 15.2,
    "09": 9.2, "10": 5.3, "12": 4.1, "13": 3.0, "14": 2.2, "15": 2.1, "16": 2.1, "17": 1.8, "18": 1.9,
}  # fmt: skip
_RELIGION_PER_MILLE: Mapping[str, float] = {
    "00": 863.0, "01": 61.0, "02": 48.0, "03": 10.0, "04": 6.0, "05": 10.0, "06": 0.8,
}  # fmt: skip
_HOUSEHOLD_SIZES: Mapping[int, float] = {1: 12, 2: 20, 3: 22, 4: 25, 5: 12, 6: 9}
_MOBILE_PREFIXES = (
    "032", "033", "034", "035", "036", "037", "038", "039", "056", "058", "059", "070", "076", "077",
    "078", "079", "081", "082", "083", "084", "085", "086", "088", "089", "090", "091", "093", "094",
    "096", "097", "098",
)  # fmt: skip
_SOUTH_2025 = frozenset({"75", "79", "80", "82", "86", "91", "92", "96"})  # "ấp" and "hẻm", not "thôn"
_SERIALS = 1_000_000
_SERIAL_STEP = 738_271  # coprime with 10**6, so n ↦ (n·step + offset) mod 10**6 is a bijection


def serial(counter: int, province_code: str, birth_year: int, male: bool) -> int:
    """The 6-digit serial of the ``counter``-th person of a (province, year, sex) group; never repeats."""
    if not 0 <= counter < _SERIALS:
        raise ValueError(f"more than {_SERIALS} people born in {province_code} in {birth_year}")
    offset = int(province_code) * 7_919 + birth_year * 104_729 + male * 499_979
    return (counter * _SERIAL_STEP + offset) % _SERIALS


def generate(count: int, seed: int) -> Iterator[Citizen]:
    """``count`` citizens in households of 1–6, identical for the same ``count`` and ``seed``."""
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    population = _Population(seed, _tables())
    return islice((c for household in population.households() for c in household), count)


@dataclass(frozen=True, slots=True)
class _Weighted(Generic[T]):
    """Values drawn by weight with one random number and a bisection."""

    values: tuple[T, ...]
    bounds: tuple[float, ...]
    total: float

    @classmethod
    def of(cls, weights: Mapping[T, float]) -> _Weighted[T]:
        """The distribution of these relative weights."""
        cumulative = tuple(accumulate(weights.values()))
        return cls(tuple(weights), cumulative[:-1], cumulative[-1])

    def draw(self, rng: Random) -> T:
        """One value, drawn with one random number."""
        return self.values[bisect(self.bounds, rng.random() * self.total)]


@dataclass(frozen=True, slots=True)
class _Tables:
    """Every distribution the generator draws from, built once."""

    residence: _Weighted[str]
    born_in: Mapping[str, _Weighted[str]]
    born_anywhere: _Weighted[str]
    communes: Mapping[str, tuple[tuple[str, bool], ...]]
    ethnic: _Weighted[str]
    religion: _Weighted[str]
    surnames: _Weighted[str]
    middle: Mapping[tuple[bool, bool], _Weighted[str]]
    household_size: _Weighted[int]


@dataclass(frozen=True, slots=True)
class _Member:
    """One person of a household plan, before dates and ids are drawn."""

    relation: str
    male: bool
    birth_year: int
    surname: str


@dataclass(frozen=True, slots=True)
class _Home:
    """What the members of one household share."""

    household_id: str
    address: Address
    ethnic_group: str
    religion: str
    registered: Provenance


@cache
def _tables() -> _Tables:
    """Build the distributions from the catalogues and the name data."""
    if set(_FIELD_GROUP) != set(DISCLOSABLE_FIELDS):
        raise RuntimeError("every disclosable field needs a provenance group")
    view = packaged_view()
    new_of = _new_province_of(view)
    return _Tables(
        residence=_Weighted.of(_residence_weights(new_of)),
        born_in=_born_in(new_of),
        born_anywhere=_Weighted.of(PROVINCE_POPULATION_2004),
        communes=_communes(view),
        ethnic=_Weighted.of(
            _code_weights(view, Catalogue.ETHNIC_GROUP, _ETHNIC_PER_MILLE, official_only=True)
        ),
        religion=_Weighted.of(
            _code_weights(view, Catalogue.RELIGION, _RELIGION_PER_MILLE, official_only=False)
        ),
        surnames=_Weighted.of(dict(names.SURNAMES)),
        middle=_middle_names(),
        household_size=_Weighted.of(_HOUSEHOLD_SIZES),
    )


def _new_province_of(view: CatalogueView) -> dict[str, str]:
    """Each DVHC-2004 province's DVHC-2025 province: the one most of its communes went to."""
    votes = Counter(
        (unit.province_code, successor.province_code)
        for unit in (*view.entries(Catalogue.DISTRICT), *view.entries(Catalogue.COMMUNE, DVHC_2004))
        for link in unit.successors
        if (successor := view.get(Catalogue.COMMUNE, link.code, link.scheme)) is not None
    )
    best: dict[str, str] = {}
    for (old, new), _ in votes.most_common():
        if old is not None and new is not None:
            best.setdefault(old, new)
    return best


def _residence_weights(new_of: Mapping[str, str]) -> dict[str, float]:
    """Population of each DVHC-2025 province, summed over the old provinces it absorbed."""
    weights: dict[str, float] = {}
    for old in sorted(PROVINCE_POPULATION_2004):
        new = new_of[old]
        weights[new] = weights.get(new, 0.0) + PROVINCE_POPULATION_2004[old]
    return weights


def _born_in(new_of: Mapping[str, str]) -> dict[str, _Weighted[str]]:
    """For each DVHC-2025 province, the DVHC-2004 provinces its natives were registered in."""
    groups: dict[str, dict[str, float]] = {}
    for old in sorted(PROVINCE_POPULATION_2004):
        groups.setdefault(new_of[old], {})[old] = PROVINCE_POPULATION_2004[old]
    return {new: _Weighted.of(olds) for new, olds in groups.items()}


def _communes(view: CatalogueView) -> dict[str, tuple[tuple[str, bool], ...]]:
    """Each DVHC-2025 province's communes as (code, urban) pairs."""
    communes: dict[str, list[tuple[str, bool]]] = {}
    for entry in view.entries(Catalogue.COMMUNE, DVHC_2025):
        urban = entry.unit_type == "Phường"
        communes.setdefault(entry.province_code or "", []).append((entry.code, urban))
    return {province: tuple(units) for province, units in communes.items()}


def _code_weights(
    view: CatalogueView, catalogue: Catalogue, known: Mapping[str, float], *, official_only: bool
) -> dict[str, float]:
    """Weights for every code of a catalogue: known shares, the remainder spread over the rest."""
    codes = [e.code for e in view.entries(catalogue) if not official_only or e.official]
    others = [code for code in codes if code not in known]
    rest = max(1000.0 - sum(known.values()), 0.0) / max(len(others), 1)
    return {code: known.get(code, rest) for code in codes}


def _middle_names() -> dict[tuple[bool, bool], _Weighted[str]]:
    """Middle-name distributions keyed by (male, born since 1985)."""
    tables = {True: names.MALE_MIDDLE, False: names.FEMALE_MIDDLE}
    return {
        (male, modern): _Weighted.of({name: (late if modern else early) for name, early, late in rows})
        for male, rows in tables.items()
        for modern in (False, True)
    }


def _clip_year(year: int) -> int:
    """A birth year inside the generated range."""
    return min(max(year, FIRST_BIRTH_YEAR), LAST_BIRTH_YEAR)


def _adult_year(year: int) -> int:
    """A birth year inside the generated range, of someone old enough to marry by the reference day."""
    return min(max(year, FIRST_BIRTH_YEAR), REFERENCE_DAY.year - 18)


class _Population:
    """The running state of one generation: its random stream and the counters that keep ids unique."""

    def __init__(self, seed: int, tables: _Tables) -> None:
        self._rng = Random(seed)
        self._t = tables
        self._serials: dict[tuple[str, int, bool], int] = {}
        self._households = 0
        self._records: dict[tuple[str, int], Provenance] = {}

    def households(self) -> Iterator[list[Citizen]]:
        """An endless stream of households, head first."""
        while True:
            home = self._home()
            plan = self._plan(self._t.household_size.draw(self._rng))
            yield [self._citizen(member, home) for member in plan]

    def _below(self, n: int) -> int:
        return int(self._rng.random() * n)

    def _between(self, low: int, high: int) -> int:
        return low + int(self._rng.random() * (high - low + 1))

    # -- the household: where it lives and who is in it

    def _home(self) -> _Home:
        self._households += 1
        province = self._t.residence.draw(self._rng)
        units = self._t.communes[province]
        commune, urban = units[self._below(len(units))]
        detail = self._detail(province, urban)
        return _Home(
            household_id=f"{province}{self._households:010d}",
            address=Address("DVHC-2025", province, commune, None, detail),
            ethnic_group=self._t.ethnic.draw(self._rng),
            religion=self._t.religion.draw(self._rng),
            registered=self._record(RESIDENCE, self._between(_SCHEME_2025, _LAST_DAY)),
        )

    def _detail(self, province: str, urban: bool) -> str:
        south = province in _SOUTH_2025
        if not urban:
            return f"{'Ấp' if south else 'Thôn'} {self._between(1, 15)}"
        street = names.STREETS[self._below(len(names.STREETS))]
        house = self._between(1, 250)
        if self._rng.random() < 0.3:
            return f"Số {house}, {'hẻm' if south else 'ngõ'} {self._between(1, 120)}, đường {street}"
        return f"Số {house}, đường {street}"

    def _plan(self, size: int) -> list[_Member]:
        head = _Member(
            _HEAD, self._rng.random() < 0.7, int(self._rng.triangular(1936, 2003, 1978)), self._surname()
        )
        members = [head]
        spouse = self._spouse(head) if size > 1 and self._rng.random() < 0.8 else None
        if spouse is not None:
            members.append(spouse)
        family = spouse.surname if spouse is not None and spouse.male else head.surname
        while len(members) < size:
            members.append(self._relative(head, family))
        return members

    def _surname(self) -> str:
        return self._t.surnames.draw(self._rng)

    def _spouse(self, head: _Member) -> _Member:
        gap = self._between(-2, 7)  # husbands are usually a few years older
        if head.male:
            return _Member(_WIFE, False, _adult_year(head.birth_year + gap), self._surname())
        return _Member(_HUSBAND, True, _adult_year(head.birth_year - gap), self._surname())

    def _relative(self, head: _Member, family: str) -> _Member:
        roll = self._rng.random()
        if 0.72 <= roll < 0.84 and head.birth_year >= FIRST_BIRTH_YEAR + 18:
            return self._parent(head)
        if 0.84 <= roll < 0.92 and head.birth_year + 40 <= LAST_BIRTH_YEAR:
            return self._descendant(_GRANDCHILD, head.birth_year + 40 + self._below(26), family)
        if 0.92 <= roll < 0.97:
            return self._sibling(head)
        if roll >= 0.97:
            return _Member(_LODGER, self._rng.random() < 0.5, self._between(1955, 2006), self._surname())
        return self._descendant(_CHILD, head.birth_year + self._between(18, 42), family)

    def _descendant(self, relation: str, year: int, family: str) -> _Member:
        return _Member(relation, self._rng.random() < 0.51, _clip_year(year), family)

    def _parent(self, head: _Member) -> _Member:
        year = max(head.birth_year - self._between(18, 40), FIRST_BIRTH_YEAR)
        if self._rng.random() < 0.45:
            return _Member(_FATHER, True, year, head.surname)
        return _Member(_MOTHER, False, year, self._surname())

    def _sibling(self, head: _Member) -> _Member:
        male = self._rng.random() < 0.5
        year = _clip_year(head.birth_year + self._between(-10, 10))
        if year >= head.birth_year:
            return _Member(_YOUNGER_SIBLING, male, year, head.surname)
        return _Member(_ELDER_BROTHER if male else _ELDER_SISTER, male, year, head.surname)

    # -- one citizen

    def _citizen(self, member: _Member, home: _Home) -> Citizen:
        born = self._birth_day(member.birth_year)
        phone = self._phone(born)
        alive = self._rng.random() >= 0.02
        return Citizen(
            personal_id=self._personal_id(home.address.province_code, member),
            full_name=self._full_name(member),
            birth_date=date.fromordinal(born),
            sex="1" if member.male else "2",
            ethnic_group=home.ethnic_group,
            religion=home.religion,
            nationality="VN",
            permanent_address=home.address,
            household_id=home.household_id,
            household_relation=member.relation,
            phone=phone,
            status="ALIVE" if alive else "DECEASED",
            provenance=self._provenance(born, home.registered, phone is not None, alive),
        )

    def _birth_day(self, year: int) -> int:
        start, days = _YEARS[year]
        return start + self._below(days)

    def _personal_id(self, residence: str, member: _Member) -> str:
        natives = self._t.born_in[residence] if self._rng.random() < 0.8 else self._t.born_anywhere
        province = natives.draw(self._rng)
        key = (province, member.birth_year, member.male)
        counter = self._serials.get(key, 0)
        self._serials[key] = counter + 1
        return compose(province, member.birth_year, member.male, serial(counter, *key))

    def _full_name(self, member: _Member) -> str:
        middle = self._t.middle[member.male, member.birth_year >= 1985].draw(self._rng)
        given = names.MALE_GIVEN if member.male else names.FEMALE_GIVEN
        return f"{member.surname} {middle} {given[self._below(len(given))]}"

    def _phone(self, born: int) -> str | None:
        if born + _DAYS_14_YEARS > _LAST_DAY or self._rng.random() < 0.05:
            return None
        prefix = _MOBILE_PREFIXES[self._below(len(_MOBILE_PREFIXES))]
        return f"{prefix}{self._below(10_000_000):07d}"

    def _provenance(
        self, born: int, registered: Provenance, has_phone: bool, alive: bool
    ) -> dict[str, Provenance]:
        collected = self._since_database(POPULATION_DB, born)
        groups = {
            "civil": self._record(CIVIL_STATUS, born + self._between(1, 60)),
            "population": collected,
            "residence": registered,
            "phone": self._phone_provenance(born) if has_phone else collected,
            "status": collected if alive else self._since_database(CIVIL_STATUS, born),
        }
        return {name: groups[group] for name, group in _FIELD_GROUP.items()}

    def _since_database(self, source: str, born: int) -> Provenance:
        """A record updated after both the birth and the population database going live."""
        return self._record(source, self._between(max(born + 1, _DATABASE_LIVE), _LAST_DAY))

    def _phone_provenance(self, born: int) -> Provenance:
        first = min(max(born + _DAYS_14_YEARS, _PHONES_REGISTERED), _LAST_DAY)
        return self._record(TELECOM, self._between(first, _LAST_DAY))

    def _record(self, source: str, day: int) -> Provenance:
        """One shared Provenance per (source, day): saves time and memory, and they are immutable."""
        key = (source, day)
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = Provenance(source, date.fromordinal(day))
        return record

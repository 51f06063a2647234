"""Given-name fashion by birth cohort in the ``realistic`` mix: the decade in which each listed name was given most.

A name's share of the births of a decade rises and falls around its peak decade (a fashion cycle), so the
commonest names of a decade take a larger share of the people born in it than of the whole population.
`fashion_factors` turns the peak decades into a factor per decade and listed name; the factors of a name
average one over `COHORT_DECADES`, so its share over all birth decades stays the published one. Common
classic names (MARIA, MOHAMMED, MEHMET) vary less across decades than fashionable ones (JENNIFER, LINDA).

Peaks come from per-decade name rankings where they are published (US Social Security Administration
baby names, INE Spain and IBGE Brazil names by decade of birth, the Chinese Ministry of Public Security
name reports, the Korean Supreme Court birth-registration rankings, TÜİK); Vietnamese peaks are
estimates; listed names without a peak get one at random (fixed per name). Sources and the fit of the
width to published peaks are in ``docs/synthetic-data.md``.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

COHORT_DECADES = (1940, 1950, 1960, 1970, 1980, 1990, 2000, 2010)  # earlier births use the first, later the last
FASHION_WIDTH = 1.0  # standard deviation of a name's fashion cycle, in decades
CLASSIC_SHARE = 0.015  # names more common than this over all ages vary less across decades


def peaks(text: str) -> dict[str, int]:
    """Parse ``"NAME decade NAME decade ..."`` into ``{name: decade}`` (``_`` in a name holds a space)."""
    words = text.split()
    if len(words) % 2:
        raise ValueError(f"odd number of words in a peak table: {words[-1]!r}")
    return {words[i].replace("_", " "): int(words[i + 1]) for i in range(0, len(words), 2)}


# Peak decade of birth per tradition and sex ("male", "female") for listed given names.
PEAKS: dict[tuple[str, str], dict[str, int]] = {
    ("zh", "male"): peaks(
        "JIANGUO 1950 JIANHUA 1960 JIANJUN 1960 GUOQIANG 1960 HUA 1960 PING 1960 MING 1960 YONG 1970 JUN 1970 "
        "QIANG 1970 GANG 1970 HUI 1970 JIAN 1970 ZHIQIANG 1970 ZHIGANG 1970 WEI 1980 LEI 1980 TAO 1980 BIN 1980 "
        "BO 1980 LIANG 1980 HAIBO 1980 ZHIWEI 1980 JIE 1990 CHAO 1990 PENG 1990 LIN 1990 FEI 1990 LONG 1990 "
        "HAO 2000 XIN 2000 YU 2000 KAI 2000 HAOYU 2010 YUXUAN 2010"
    ),
    ("zh", "female"): peaks(
        "XIUYING 1950 GUIYING 1950 XIULAN 1950 YULAN 1950 GUILAN 1950 YUYING 1950 XIUZHEN 1950 HONG 1960 "
        "PING 1960 LAN 1960 YUMEI 1960 FANG 1970 LI 1970 YAN 1970 YING 1970 XIA 1970 MEI 1970 HUI 1970 "
        "HAIYAN 1970 LIJUAN 1970 XIAOYAN 1970 JING 1980 NA 1980 JUAN 1980 LING 1980 MIN 1990 DAN 1990 "
        "TING 1990 QIAN 1990 XUE 1990"
    ),
    ("ko", "male"): peaks(
        "YOUNGSOO 1950 YOUNGHO 1950 SANGHOON 1970 JUNGHOON 1970 SUNGHOON 1970 SUNGMIN 1980 MINSU 1980 "
        "JIHOON 1980 DONGHYUN 1990 HYUNWOO 1990 JUNHO 1990 JAEHYUN 1990 SEUNGHYUN 1990 JINWOO 1990 MINJUN 2000"
    ),
    ("ko", "female"): peaks(
        "YOUNGHEE 1950 MIKYUNG 1960 EUNJUNG 1970 EUNYOUNG 1970 YUMI 1970 JIYOUNG 1980 JIHYE 1980 HYEJIN 1980 "
        "SUJIN 1980 SOYEON 1990 EUNJI 1990 MINJI 1990 JIYEON 1990 JIEUN 1990 SEOYEON 2000"
    ),
    ("vi", "male"): peaks(
        "HUNG 1960 DUNG 1960 THANG 1960 BINH 1960 HAI 1960 SON 1970 THANH 1960 MINH 1970 CUONG 1970 LONG 1970 "
        "TRUNG 1970 VINH 1970 HOA 1960 TAM 1970 TOAN 1970 QUANG 1970 TIEN 1970 TUAN 1980 NAM 1980 DUC 1980 "
        "HOANG 1990 HUY 1990 HIEU 1990 DAT 1990 DUY 1990 ANH 1990 BAO 2000 KHANH 2000 PHUC 2000 NHAT 2000 "
        "THINH 2000 QUAN 2000"
    ),
    ("vi", "female"): peaks(
        "HOA 1960 LAN 1960 MAI 1960 NGA 1960 HONG 1960 LIEN 1960 TUYET 1960 LOAN 1970 HUONG 1970 THUY 1970 "
        "HANH 1970 HA 1970 YEN 1970 HIEN 1970 HUE 1970 DUNG 1970 VAN 1970 NGUYET 1970 NHUNG 1980 HUYEN 1980 "
        "PHUONG 1980 HANG 1980 NGOC 1980 TRANG 1990 THAO 1990 LINH 1990 ANH 1990 QUYNH 1990 GIANG 1990 "
        "DUYEN 1990 TRINH 1990 NHI 2000 VY 2000 UYEN 2000 NGAN 2000 MY 2000 TRAM 2000"
    ),
    ("tr", "male"): peaks(
        "MEHMET 1950 MUSTAFA 1950 AHMET 1950 ALİ 1950 HÜSEYİN 1950 HASAN 1950 İBRAHİM 1960 İSMAİL 1960 "
        "OSMAN 1950 RAMAZAN 1960 HALİL 1960 MURAT 1970 EMRE 1990 BURAK 1990 ÖMER 2000 YUSUF 2010"
    ),
    ("tr", "female"): peaks(
        "FATMA 1950 AYŞE 1950 EMİNE 1950 HATİCE 1950 ŞERİFE 1940 SULTAN 1950 HANİFE 1940 ESRA 1980 MERVE 1990 "
        "BÜŞRA 1990 ZEYNEP 2000 ELİF 2000 MERYEM 2000 ZEHRA 2010"
    ),
    ("en", "male"): peaks(
        "JAMES 1940 JOHN 1940 ROBERT 1940 WILLIAM 1940 RICHARD 1940 CHARLES 1940 DONALD 1940 GEORGE 1940 "
        "EDWARD 1940 RONALD 1940 DAVID 1950 JOSEPH 1950 THOMAS 1950 PAUL 1950 KENNETH 1950 MARK 1960 "
        "STEVEN 1960 MICHAEL 1970 BRIAN 1970 KEVIN 1970 JASON 1970 CHRISTOPHER 1980 DANIEL 1980 ANTHONY 1980 "
        "MATTHEW 1980"
    ),
    ("en", "female"): peaks(
        "MARY 1940 PATRICIA 1940 LINDA 1940 BARBARA 1940 MARGARET 1940 DOROTHY 1940 BETTY 1940 HELEN 1940 "
        "CAROL 1940 RUTH 1940 SUSAN 1950 NANCY 1950 SANDRA 1950 DONNA 1950 SHARON 1950 DEBORAH 1950 LISA 1960 "
        "KAREN 1960 JENNIFER 1970 MICHELLE 1970 LAURA 1970 KIMBERLY 1970 ELIZABETH 1980 SARAH 1980 "
        "JESSICA 1990 MARIA 1990"
    ),
    ("es", "male"): peaks(
        "ANTONIO 1940 MANUEL 1940 JOSÉ 1940 FRANCISCO 1940 JUAN 1950 PEDRO 1950 JOSÉ_ANTONIO 1960 LUIS 1960 "
        "FRANCISCO_JAVIER 1960 JAVIER 1970 CARLOS 1970 MIGUEL 1970 JUAN_CARLOS 1970 DAVID 1980 DANIEL 1980 "
        "JORGE 1980 ALEJANDRO 1990 ANDRÉS 1990 DIEGO 2000 SANTIAGO 2010"
    ),
    ("es", "female"): peaks(
        "MARÍA 1940 CARMEN 1940 JOSEFA 1940 MARÍA_CARMEN 1950 MARÍA_PILAR 1950 MARÍA_DOLORES 1950 ISABEL 1950 "
        "MARÍA_TERESA 1950 ANA_MARÍA 1960 GUADALUPE 1960 ANA 1970 ELENA 1970 LAURA 1980 PAULA 1990 LUCÍA 2000 "
        "SOFÍA 2010 VALENTINA 2010 CAMILA 2010"
    ),
    ("pt", "male"): peaks(
        "JOSÉ 1940 JOÃO 1940 ANTÔNIO 1940 FRANCISCO 1950 LUIZ 1950 CARLOS 1960 PAULO 1960 MARCOS 1970 "
        "MARCELO 1970 RAFAEL 1980 DANIEL 1980 EDUARDO 1980 BRUNO 1990 LUCAS 2000 GABRIEL 2000 PEDRO 2000"
    ),
    ("pt", "female"): peaks(
        "MARIA 1950 FRANCISCA 1950 ANTÔNIA 1950 MÁRCIA 1960 ADRIANA 1970 PATRÍCIA 1970 ANA 1980 JULIANA 1980 "
        "FERNANDA 1980 ALINE 1980 LETÍCIA 1990 CAMILA 1990 BEATRIZ 2000"
    ),
}


def decade_index(years: np.ndarray) -> np.ndarray:
    """Position in `COHORT_DECADES` of each birth year (earlier and later years go to the ends)."""
    index = (np.asarray(years) - COHORT_DECADES[0]) // 10
    return np.clip(index, 0, len(COHORT_DECADES) - 1).astype(np.int8)


def fashion_factors(key: str, role: str, names: Sequence[str], shares: Sequence[float] | np.ndarray) -> np.ndarray:
    """Factor per birth decade (rows, `COHORT_DECADES`) and listed given name (columns).

    A name's factor follows a normal curve of width `FASHION_WIDTH` around its peak decade, scaled to
    average one over the decades; names with a share above `CLASSIC_SHARE` keep only the fraction
    ``CLASSIC_SHARE / share`` of that swing.

    Args:
        key: Tradition key (``"zh"``).
        role: ``"male"`` or ``"female"``.
        names: The listed given names, most common first.
        shares: Their shares over all birth decades.
    """
    known = PEAKS.get((key, role), {})
    decades = np.array(COHORT_DECADES, dtype=np.float64)
    peak = np.array(
        [
            known.get(name, COHORT_DECADES[zlib.crc32(f"{key}:{role}:{name}".encode()) % len(COHORT_DECADES)])
            for name in names
        ],
        dtype=np.float64,
    )
    curve = np.exp(-0.5 * ((decades[:, None] - peak[None, :]) / (10 * FASHION_WIDTH)) ** 2)
    curve /= curve.mean(axis=0)
    swing = np.minimum(1.0, CLASSIC_SHARE / np.maximum(np.asarray(shares, dtype=np.float64), 1e-12))
    return 1.0 + swing[None, :] * (curve - 1.0)

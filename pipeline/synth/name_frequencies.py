"""Published name frequencies per naming tradition (Asia and the Middle East): the head of the ``realistic`` mix.

Each table lists names with their share of the people of the tradition (family names) or of one sex
(given names), most common first, in percent as published or derived from published counts. What the
listed names leave uncovered comes from the syllable-built long tail of `pipeline.synth.names`. Sources,
and which shares are published and which are estimated, are listed in ``docs/synthetic-data.md``.

Spellings are those of travel documents (pinyin without tones, Vietnamese without diacritics, Turkish
and Spanish with theirs). Names written with an underscore hold a space (``JOSÉ_ANTONIO``).
"""

from __future__ import annotations

from dataclasses import dataclass

Table = tuple[tuple[str, float], ...]


def shares(text: str) -> Table:
    """Parse ``"NAME percent NAME percent ..."`` into ``((name, share), ...)`` with shares as fractions."""
    words = text.split()
    if len(words) % 2:
        raise ValueError(f"odd number of words in a share table: {words[-1]!r}")
    pairs = [(words[i].replace("_", " "), float(words[i + 1]) / 100) for i in range(0, len(words), 2)]
    return tuple(sorted(pairs, key=lambda pair: -pair[1]))


@dataclass(frozen=True)
class Frequencies:
    """Name frequencies and name shapes of one tradition in the realistic mix.

    Attributes:
        family: Family names and their shares (of men too when `family_female` is set).
        male: Male given names and their shares among men.
        female: Female given names and their shares among women.
        family_female: Family names of women where they differ from men's (DEVI, KUMARI, KAUR; NOWAK,
            KOWALSKA); empty when women draw from `family`.
        patronymic: Share of people whose family name is a father's or grandfather's given name,
            drawn from `male` (Arabic and Somali chains of names).
        second_given: Probability of a second given name.
        compound_family: Probability of a second family name (Spanish, Portuguese).
        male_middle: Middle names of men, shares adding up to 100 % (Vietnamese VAN); when set, a man's
            given names are a middle name and a main name from `male`, drawn independently ("VAN AN").
        female_middle: The same for women (Vietnamese THI).
        tail_syllables: Syllables (space-separated) added to the tradition's inventory for its rare names
            (one-syllable family names need more syllables than the legacy inventory has).
    """

    family: Table
    male: Table
    female: Table
    family_female: Table = ()
    patronymic: float = 0.0
    second_given: float = 0.0
    compound_family: float = 0.0
    male_middle: Table = ()
    female_middle: Table = ()
    tail_syllables: str = ""


VI_MIDDLE_MALE = shares(
    "VAN 30 DUC 8 MINH 7 QUANG 5 HUU 5 THANH 5 NGOC 4 XUAN 3 CONG 3 QUOC 3 HOANG 3 ANH 2 TIEN 2 GIA 2 TRONG 2 "
    "DINH 2 MANH 2 HAI 2 KHAC 1.5 NHAT 1.5 BA 1.5 TAN 1.5 THE 1.5 VIET 1.5 TUAN 1 DANG 1"
)
VI_MIDDLE_FEMALE = shares(
    "THI 50 NGOC 9 THU 6 THANH 5 PHUONG 4 KIM 3 MINH 2 HONG 2 THUY 2 BAO 1.5 MY 1.5 HOAI 1 KHANH 2 HA 2 "
    "NHU 1.5 BICH 1.5 THAO 1.5 QUYNH 1.5 DIEU 1.5 TUONG 1.5"
)
VI_MAIN_MALE = shares(
    "TUAN 2.71 HOANG 2.46 HUY 2.23 ANH 2.05 HIEU 1.99 HUNG 2.9 NAM 1.98 SON 1.9 DUC 1.88 DUNG 1.7 THANH 1.62 "
    "DAT 1.56 CUONG 1.56 LONG 1.55 TRUNG 1.55 HAI 1.42 VU 1.42 NGUYEN 1.4 THANG 1.4 MINH 1.31 DUY 1.15 TIEN 1.14 "
    "QUANG 1.11 PHUC 1.05 TRUONG 1.02 TAI 1.01 TOAN 0.98 PHONG 0.91 TUNG 0.89 LINH 0.87 KHANH 0.86 "
    "BAO 0.86 QUAN 0.83 DUONG 0.79 NGHIA 0.78 LAM 0.78 VINH 0.77 BINH 0.76 MANH 0.75 VIET 0.7 THINH 0.68 "
    "HOA 0.68 TAM 0.66 HIEP 0.65 TAN 0.65 PHU 0.64 PHUONG 0.64 THIEN 0.62 THAI 0.62 NHAT 0.6 CONG 0.59 "
    "SANG 0.59 HAU 0.58 QUY 0.57 AN 0.57 PHUOC 0.56 QUOC 0.55 NGOC 0.54 NHAN 0.53"
)
VI_MAIN_FEMALE = shares(
    "TRANG 4.19 THAO 3.52 LINH 3.02 ANH 3.3 PHUONG 3.29 HANG 2.14 HUYEN 2.11 HA 2.07 HIEN 2.03 HUONG 2.28 "
    "NGOC 1.72 DUNG 1.7 NHUNG 1.69 THUY 2.73 NHI 1.62 DUYEN 1.55 VAN 1.5 QUYNH 1.49 NGA 1.49 YEN 1.48 "
    "TRINH 1.46 THUONG 1.34 UYEN 1.34 HANH 1.31 NGAN 1.22 OANH 1.19 TRAM 1.16 LY 1.16 MAI 1.15 "
    "HOA 1.02 VY 1.02 HONG 0.99 TAM 0.96 THU 1.68 MY 0.94 GIANG 0.93 LOAN 0.92 THANH 0.88 "
    "VI 0.84 LAN 0.84 QUYEN 0.8 CHI 0.8 TIEN 0.73 HUE 0.69 NGUYET 0.67 NHU 0.67 NGUYEN 0.66 TUYET 0.64 "
    "DIEM 0.62 LIEN 0.6"
)

ASIA: dict[str, Frequencies] = {
    "vi": Frequencies(
        family=shares(
            "NGUYEN 38.4 TRAN 12.1 LE 9.5 PHAM 7.0 PHAN 4.5 HOANG 2.6 HUYNH 2.5 DANG 2.1 VU 2.0 BUI 2.0 VO 1.9 "
            "DO 1.4 HO 1.3 NGO 1.3 DUONG 1.0 LY 0.5 TRUONG 1.0 DINH 0.9 MAI 0.6 TRINH 0.6 DOAN 0.5 LUONG 0.5 "
            "CAO 0.5 HA 0.5 DAO 0.5 LAM 0.4"
        ),
        male=VI_MAIN_MALE,
        female=VI_MAIN_FEMALE,
        male_middle=VI_MIDDLE_MALE,
        female_middle=VI_MIDDLE_FEMALE,
    ),
    "zh": Frequencies(
        family=shares(
            "WANG 7.25 LI 7.19 ZHANG 6.83 LIU 5.38 CHEN 4.53 YANG 3.08 XU 2.3 ZHAO 2.29 HUANG 2.23 WU 2.05 "
            "ZHOU 2.05 SUN 1.54 MA 1.44 HU 1.31 ZHU 1.28 GUO 1.15 HE 1.14 LIN 1.1 GAO 1.0 ZHENG 0.92 LUO 0.87 "
            "LIANG 0.86 YU 0.9 JIANG 0.9 XIE 0.73 SONG 0.66 TANG 0.66 HAN 0.59 FENG 0.57 DENG 0.57 CAO 0.56 "
            "PENG 0.53 ZENG 0.51 XIAO 0.5 TIAN 0.49 DONG 0.48 WEI 0.5 LU 0.6 PAN 0.44 YUAN 0.44 CAI 0.42 DU 0.41 "
            "YE 0.4 CHENG 0.38 SU 0.38 LYU 0.36 DING 0.35 REN 0.34 SHEN 0.34 YAO 0.3 FU 0.3 ZHONG 0.3 CUI 0.28 "
            "TAN 0.28 LIAO 0.27 FAN 0.27 JIN 0.26 SHI 0.4 JIA 0.25 XIA 0.24 FANG 0.24 ZOU 0.23 QIU 0.22 "
            "XIONG 0.22 MENG 0.2 QIN 0.2 YAN 0.3 XUE 0.2 HOU 0.2 LEI 0.19 BAI 0.19 LONG 0.18 DUAN 0.18 HAO 0.18 "
            "KONG 0.17 SHAO 0.17 MAO 0.16 CHANG 0.16 WAN 0.16 GU 0.16 LAI 0.16 KANG 0.15 YIN 0.15 QIAN 0.15 "
            "NIU 0.14 HONG 0.14 GONG 0.14"
        ),
        male=shares(
            "WEI 0.8 YONG 0.45 JUN 0.45 QIANG 0.4 LEI 0.4 TAO 0.35 JIE 0.35 GANG 0.3 MING 0.3 CHAO 0.3 PENG 0.3 "
            "BIN 0.3 HUI 0.3 PING 0.25 HAO 0.25 BO 0.25 HUA 0.25 JIANHUA 0.25 JIANGUO 0.25 LIN 0.2 FEI 0.2 "
            "XIN 0.2 YU 0.2 LONG 0.2 KAI 0.2 LIANG 0.2 JIAN 0.2 JIANJUN 0.2 ZHIQIANG 0.2 ZHIGANG 0.15 "
            "GUOQIANG 0.15 HAIBO 0.15 ZHIWEI 0.15 HAOYU 0.1 YUXUAN 0.1"
        ),
        female=shares(
            "JING 0.7 FANG 0.6 NA 0.6 LI 0.6 YAN 0.6 XIUYING 0.5 MIN 0.5 JUAN 0.5 YING 0.45 XIA 0.4 HONG 0.4 "
            "PING 0.4 LING 0.35 DAN 0.35 GUIYING 0.35 XIULAN 0.3 YULAN 0.3 MEI 0.3 TING 0.3 HUI 0.3 GUILAN 0.25 "
            "LAN 0.25 YUMEI 0.2 HAIYAN 0.2 QIAN 0.2 XUE 0.2 LIJUAN 0.2 XIAOYAN 0.2 YUYING 0.15 XIUZHEN 0.15"
        ),
        tail_syllables=(
            "an ao ba bao bei ben bi bian bo bu can cen chai chan chao che chi chong chu chuan chun ci cong da dai "
            "dang dao di dian diao dou e en fa fei fen ge geng guan gui ha hai hang heng hua huai huan hui huo ji "
            "jiao jie jing ju juan jun ka kan ke kou kuai kuang kui la lan lang lao le leng lian liao lie ling liu "
            "lou lun mai man mei men mi mian miao min ming mu na nai nan ning nie nong ou pang pei pi piao ping pu "
            "qi qiao qing qu quan que ran rao rong ru ruan sang sha shan shang she sheng shou shu shuai si sui suo "
            "tai tao teng tong tu tuo wen weng wo xi xian xiang xin xing xiu xuan xun ya yi ying yong you yue yun "
            "zang zhai zhan zhao zhen zhi zhuang zhuo zi zong zu zuo ouyang situ zhuge shangguan"
        ),
    ),
    "ko": Frequencies(
        family=shares(
            "KIM 21.5 LEE 14.7 PARK 8.4 CHOI 4.7 JUNG 4.3 KANG 2.4 CHO 2.1 YOON 2.1 JANG 2.0 LIM 1.7 HAN 1.5 OH 1.5 "
            "SEO 1.5 SHIN 1.5 KWON 1.4 HWANG 1.4 AHN 1.4 SONG 1.4 JEON 1.1 HONG 1.1 YOO 1.0 KO 0.9 MOON 0.9 "
            "YANG 0.9 SON 0.9 BAE 0.8 BAEK 0.7 HEO 0.6 NAM 0.5"
        ),
        male=shares(
            "JIHOON 0.9 SUNGHOON 0.8 JUNHO 0.8 HYUNWOO 0.7 DONGHYUN 0.7 JUNGHOON 0.7 SANGHOON 0.6 YOUNGSOO 0.6 "
            "YOUNGHO 0.6 MINSU 0.6 JAEHYUN 0.6 MINJUN 0.5 SEUNGHYUN 0.5 JINWOO 0.5 SUNGMIN 0.5"
        ),
        female=shares(
            "JIYOUNG 0.9 EUNJUNG 0.8 MIKYUNG 0.7 SOYEON 0.7 JIHYE 0.7 EUNJI 0.7 HYEJIN 0.6 YOUNGHEE 0.6 SUJIN 0.6 "
            "MINJI 0.6 JIYEON 0.6 SEOYEON 0.5 EUNYOUNG 0.5 YUMI 0.5 JIEUN 0.5"
        ),
        tail_syllables=(
            "gil gu gwak min jin ji cha joo woo na eom chae won cheon bang gong hyun ham byun yeom yeo chu do seok "
            "so seol ma pyo gi ban wang geum ok yuk in maeng je tak guk eo pyeon yong ye bong sa bu namgung"
        ),
    ),
    "ja": Frequencies(
        family=shares(
            "SATO 1.5 SUZUKI 1.4 TAKAHASHI 1.1 TANAKA 1.07 ITO 0.87 WATANABE 0.87 YAMAMOTO 0.86 NAKAMURA 0.85 "
            "KOBAYASHI 0.82 KATO 0.72 YOSHIDA 0.66 YAMADA 0.65 SASAKI 0.54 YAMAGUCHI 0.51 MATSUMOTO 0.5 "
            "INOUE 0.49 KIMURA 0.46 HAYASHI 0.43 SAITO 0.42 SHIMIZU 0.42"
        ),
        male=shares(
            "HIROSHI 0.8 TAKESHI 0.6 MAKOTO 0.6 KENJI 0.5 TAKASHI 0.5 DAISUKE 0.5 KENTA 0.4 SHOTA 0.4 HARUTO 0.3 "
            "SOTA 0.3 YUTO 0.3 REN 0.3"
        ),
        female=shares(
            "YOKO 0.7 KEIKO 0.6 YUKO 0.6 TOMOKO 0.6 AKIKO 0.5 MEGUMI 0.5 YUKI 0.5 AYA 0.4 SAKURA 0.3 HINA 0.3 "
            "YUI 0.3 MISAKI 0.3"
        ),
    ),
    "tr": Frequencies(
        family=shares(
            "YILMAZ 1.38 KAYA 1.05 DEMİR 1.02 ÇELİK 0.84 YILDIZ 0.81 ŞAHİN 0.8 YILDIRIM 0.78 ÖZTÜRK 0.69 "
            "AYDIN 0.68 ÖZDEMİR 0.65 ARSLAN 0.6 DOĞAN 0.6 KILIÇ 0.55 ASLAN 0.5 ÇETİN 0.5 KARA 0.5 KOÇ 0.45 "
            "KURT 0.45 ÖZKAN 0.4 ŞİMŞEK 0.4 POLAT 0.4"
        ),
        male=shares(
            "MEHMET 3.01 MUSTAFA 2.5 AHMET 2.02 ALİ 1.74 HÜSEYİN 1.35 HASAN 1.26 MURAT 1.0 YUSUF 0.9 İBRAHİM 0.9 "
            "İSMAİL 0.8 ÖMER 0.7 OSMAN 0.7 RAMAZAN 0.6 HALİL 0.6 EMRE 0.5 BURAK 0.5"
        ),
        female=shares(
            "FATMA 2.73 AYŞE 2.15 EMİNE 1.84 HATİCE 1.68 ZEYNEP 1.65 ELİF 1.3 MERYEM 0.75 MERVE 0.69 ZEHRA 0.63 "
            "ESRA 0.6 ŞERİFE 0.5 SULTAN 0.5 HANİFE 0.4 BÜŞRA 0.4"
        ),
        second_given=0.15,
    ),
    "ar": Frequencies(
        family=shares(
            "AL-AHMAD 0.8 HADDAD 0.6 AL-KHATIB 0.6 MANSOUR 0.6 NASSER 0.5 HAMAD 0.5 KHALIL 0.5 SALEH 0.5 "
            "SAID 0.5 AL-ALI 0.5 AL-HASSAN 0.5 JABER 0.4 AWAD 0.4 EL-SAYED 0.6 ABDEL-RAHMAN 0.4 EL-ALAMI 0.3 "
            "BENNANI 0.3 TAZI 0.3 AL-JUBOURI 0.4 AL-OBAIDI 0.3"
        ),
        male=shares(
            "MOHAMMED 11 AHMAD 5 ALI 3.5 MAHMOUD 3 OMAR 3 HUSSEIN 2 MUSTAFA 2 KHALED 2 IBRAHIM 2 HASSAN 2 "
            "YOUSSEF 2 ABDULLAH 1.8 SAMIR 1 KHALIL 1 SALEH 1 TAREK 0.8 WALID 0.8 KARIM 0.8 HAMZA 0.8 SAID 0.8"
        ),
        female=shares(
            "FATIMA 3 MARYAM 2.5 AISHA 2 ZAINAB 2 NOUR 2 SARA 2 HANAN 1.5 AMAL 1.5 LAYLA 1.5 RANIA 1.2 "
            "YASMIN 1.2 HIBA 1 SALMA 1 KHADIJA 1.5 NADIA 1 SAMIRA 1"
        ),
        patronymic=0.5,
        second_given=0.3,
    ),
    "fa": Frequencies(
        family=shares(
            "AHMADI 3 MOHAMMADI 3 HUSSAINI 2.5 RAHIMI 2 KARIMI 2 HAIDARI 2 NOORI 1.5 SAFI 1.2 STANIKZAI 1 "
            "AZIMI 1 SULTANI 1 AMIRI 1 POPAL 0.6 WARDAK 0.8 SADAT 1 QADERI 0.8"
        ),
        male=shares(
            "MOHAMMAD 8 AHMAD 4 ALI 3 ABDUL 2.5 MUSTAFA 1.5 JAWAD 1 HAMID 1.2 NASIR 1 RAHIM 1 KARIM 1 FARID 1 "
            "ZABIHULLAH 0.8 HABIBULLAH 0.8 NAJIBULLAH 0.8 SAYED 1"
        ),
        female=shares(
            "FATIMA 3 ZAHRA 2.5 MARYAM 2 SHABNAM 1.2 PARWANA 1 NAZIA 1 FARIDA 1.2 LAILA 1.2 SOHAILA 0.8 "
            "MALALAI 0.6 ZAINAB 1.2 MARZIA 1 SAKINA 1"
        ),
        patronymic=0.3,
        second_given=0.2,
    ),
    "ur": Frequencies(
        family=shares(
            "KHAN 7 ALI 3.5 AHMED 3 HUSSAIN 2.5 SHAH 2 BUTT 1.2 MALIK 1.5 IQBAL 1.2 CHAUDHRY 1 RAZA 1 QURESHI 0.8 "
            "AKHTAR 0.8 MAHMOOD 0.8 SHEIKH 0.8 ABBAS 0.8 ASLAM 0.7 ANWAR 0.6 NAWAZ 0.6"
        ),
        male=shares(
            "MUHAMMAD 12 ALI 2 AHMED 1.5 HASSAN 1 USMAN 1 BILAL 1 IMRAN 1 ASIF 0.9 ZUBAIR 0.8 FAISAL 0.8 "
            "KAMRAN 0.8 ABDUL 1.5 TARIQ 0.8 SHAHID 0.8 NAVEED 0.6"
        ),
        female=shares(
            "AYESHA 2 FATIMA 2 SANA 1.2 AMNA 1.2 ZAINAB 1 MARIA 0.8 SADIA 0.8 NIMRA 0.8 HINA 0.8 RABIA 0.8 "
            "SHAZIA 0.8 NASREEN 0.8 PARVEEN 0.8 SAMINA 0.6 BUSHRA 0.6"
        ),
        family_female=shares(
            "BIBI 6 KHAN 4 BEGUM 3 ALI 1.5 AHMED 1.5 HUSSAIN 1.2 SHAH 1 MALIK 1 IQBAL 0.8 AKHTAR 1 KHATOON 1 "
            "PARVEEN 1 BUTT 0.8 QURESHI 0.5"
        ),
        second_given=0.3,
    ),
    "hi": Frequencies(
        family=shares(
            "KUMAR 5.0 SINGH 4.4 RAM 1.4 DAS 1.0 LAL 1.0 YADAV 0.67 ALI 0.7 PRASAD 0.5 MANDAL 0.43 SHARMA 0.39 "
            "RAY 0.37 MONDAL 0.35 KHAN 0.34 SAH 0.32 PATEL 0.3 REDDY 0.3 RAO 0.3 PATIL 0.28 GHOSH 0.28 PAL 0.27 "
            "SAHU 0.26 GUPTA 0.25 VERMA 0.25 JOSHI 0.2 MISHRA 0.2 CHAUHAN 0.15 NAIR 0.15 PILLAI 0.1"
        ),
        family_female=shares(
            "DEVI 11 KAUR 1.9 KUMARI 1.35 SINGH 1.1 DAS 1.0 BAI 1.0 KHATUN 0.9 YADAV 0.67 BEGUM 0.5 MANDAL 0.43 "
            "SHARMA 0.39 RAY 0.37 MONDAL 0.35 SAH 0.32 PATEL 0.3 PATIL 0.28 GHOSH 0.28 PAL 0.27 SAHU 0.26 "
            "GUPTA 0.25 REDDY 0.2 RAO 0.2"
        ),
        male=shares(
            "RAJESH 0.8 SURESH 0.7 RAMESH 0.7 SANJAY 0.6 RAJU 0.6 SUNIL 0.6 ANIL 0.6 VIJAY 0.6 RAHUL 0.5 AMIT 0.5 "
            "MANOJ 0.5 ASHOK 0.5 SANTOSH 0.5 MOHAMMED 0.8 DEEPAK 0.4 RAVI 0.4 PRADEEP 0.4 ARJUN 0.3 ROHIT 0.3"
        ),
        female=shares(
            "SUNITA 0.8 ANITA 0.7 GEETA 0.6 REKHA 0.6 POOJA 0.6 PRIYA 0.6 LAKSHMI 0.6 KAVITA 0.5 SARITA 0.5 "
            "MEENA 0.5 NEHA 0.4 ANJALI 0.4 DIVYA 0.4 DEEPA 0.3 SHREYA 0.3"
        ),
        second_given=0.1,
    ),
    "ph": Frequencies(
        family=shares(
            "SANTOS 1.3 REYES 1.0 CRUZ 0.9 DELA_CRUZ 0.9 GARCIA 0.9 BAUTISTA 0.6 MENDOZA 0.8 RAMOS 0.6 TORRES 0.6 "
            "FLORES 0.6 VILLANUEVA 0.5 CASTILLO 0.5 RIVERA 0.5 AQUINO 0.5 OCAMPO 0.4 TOMAS 0.4 DE_LEON 0.4 "
            "CASTRO 0.4 NAVARRO 0.4 ANDRADA 0.3 SALAZAR 0.3 MERCADO 0.3"
        ),
        male=shares(
            "JOHN 1.5 MARK 1.5 MICHAEL 1.2 JOSE 1.2 JUAN 1 RONALDO 0.6 JERRY 0.6 ANGELO 0.6 JOMAR 0.5 "
            "CHRISTIAN 0.8 ROMMEL 0.5 ARNEL 0.5 JOEL 0.6 RICHARD 0.6 EDUARDO 0.5"
        ),
        female=shares(
            "MARIA 2.5 MARY_GRACE 1 MARY_JOY 0.8 ANGELICA 0.6 KRISTINE 0.6 JENNIFER 0.8 ROSALIE 0.5 MARICEL 0.5 "
            "JOCELYN 0.5 MARIBEL 0.5 JOY 0.6 ANALYN 0.4 LEA 0.4 MYLENE 0.4"
        ),
        second_given=0.5,
    ),
}

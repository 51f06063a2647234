"""Hand-written name lists and syllable inventories per naming tradition.

Each tradition lists its most common family names and given names in rough order of frequency (the first
entries are the most common), plus a syllable inventory from which `pipeline.synth.names` builds a long
tail of rare but plausible names. Lists are upper case as in travel documents; diacritics are kept where
the tradition writes them, so the generator can strip or transliterate them like real registrars do.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NameTradition:
    """Common names and name-shape parameters of one naming tradition.

    Attributes:
        family: Common family names, most frequent first.
        male: Common male given names, most frequent first.
        female: Common female given names, most frequent first.
        syllables: Syllables combined into rare names.
        family_syllables: Minimum and maximum syllables of a rare family name.
        given_syllables: Minimum and maximum syllables of a rare given name.
        family_head_share: Share of people carrying one of the common family names.
        family_zipf: Zipf exponent over the common family names (higher is more concentrated).
        second_given: Probability of a second given name.
        compound_family: Probability of a two-part family name (e.g. paternal and maternal surname).
    """

    family: tuple[str, ...]
    male: tuple[str, ...]
    female: tuple[str, ...]
    syllables: tuple[str, ...]
    family_syllables: tuple[int, int] = (2, 3)
    given_syllables: tuple[int, int] = (2, 3)
    family_head_share: float = 0.35
    family_zipf: float = 1.0
    second_given: float = 0.2
    compound_family: float = 0.0


def _t(text: str) -> tuple[str, ...]:
    return tuple(word.replace("_", " ") for word in text.split())


TRADITIONS: dict[str, NameTradition] = {
    "uto": NameTradition(
        family=_t(
            "ERIKSSON ANDERSSON LINDQVIST NYSTRÖM BERG HOLM LUND STRAND DAHL SJÖBERG EKLUND "
            "HAGEN NORDIN WIKSTRÖM FORSBERG SANDBERG LINDGREN ÅBERG"
        ),
        male=_t("ERIK JOHAN LARS ANDERS NILS OSKAR AXEL HUGO LEO MAGNUS PER EMIL TOBIAS JONAS"),
        female=_t("ANNA MARIA ELSA KARIN INGRID SARA EMMA MAJA LINNEA ASTRID FREJA SOFIA HELENA MAJKEN"),
        syllables=_t("ber lin dal sjö holm ström vik ek nor fors sand gren lund ha ge ri ka to mi sten ås"),
        family_head_share=0.25,
        family_zipf=0.9,
        second_given=0.45,
    ),
    "en": NameTradition(
        family=_t(
            "SMITH JONES WILLIAMS BROWN TAYLOR DAVIES JOHNSON WILSON EVANS THOMAS ROBERTS WALKER "
            "WRIGHT THOMPSON WHITE HUGHES EDWARDS GREEN HALL WOOD HARRIS MARTIN CLARKE"
        ),
        male=_t("JAMES JOHN DAVID MICHAEL ROBERT WILLIAM THOMAS DANIEL MATTHEW CHRISTOPHER ANDREW JACK OLIVER GEORGE"),
        female=_t(
            "SARAH EMMA ELIZABETH JESSICA EMILY OLIVIA SOPHIE CHARLOTTE HANNAH LAURA REBECCA AMELIA GRACE KATHERINE"
        ),
        syllables=_t("ash ford ing ton ley wick field bur ham ell win ster by son dal mor gan ri ver"),
        family_head_share=0.2,
        family_zipf=0.8,
        second_given=0.4,
    ),
    "de": NameTradition(
        family=_t(
            "MÜLLER SCHMIDT SCHNEIDER FISCHER WEBER MEYER WAGNER BECKER SCHULZ HOFFMANN SCHÄFER "
            "KOCH BAUER RICHTER KLEIN WOLF SCHRÖDER NEUMANN SCHWARZ ZIMMERMANN KRÜGER HARTMANN"
        ),
        male=_t("MAXIMILIAN ALEXANDER PAUL LUKAS JONAS FELIX LEON THOMAS MICHAEL ANDREAS STEFAN JÜRGEN KLAUS TOBIAS"),
        female=_t("ANNA MARIE SOPHIE LAURA JULIA LENA HANNAH KATHARINA SABINE ANDREA PETRA BIRGIT GISELA URSULA"),
        syllables=_t("bach berg mann hof stein brück ler el ha ger wal ter schu mei kel rö gen dorf"),
        family_head_share=0.25,
        family_zipf=0.9,
        second_given=0.35,
    ),
    "fr": NameTradition(
        family=_t(
            "MARTIN BERNARD THOMAS PETIT ROBERT RICHARD DURAND DUBOIS MOREAU LAURENT SIMON MICHEL "
            "LEFÈVRE LEROY ROUX DAVID BERTRAND MOREL FOURNIER GIRARD"
        ),
        male=_t("JEAN PIERRE MICHEL PHILIPPE NICOLAS FRANÇOIS LUC JULIEN THOMAS ANTOINE LOUIS HUGO GABRIEL"),
        female=_t("MARIE NATHALIE ISABELLE SYLVIE CATHERINE CAMILLE LÉA MANON CHLOÉ HÉLÈNE SOPHIE JULIE EMMA"),
        syllables=_t("ber nard lau ren du bois mo reau che va lier fon taine gi rard val lée mont"),
        family_head_share=0.2,
        second_given=0.4,
    ),
    "it": NameTradition(
        family=_t(
            "ROSSI RUSSO FERRARI ESPOSITO BIANCHI ROMANO COLOMBO RICCI MARINO GRECO BRUNO GALLO "
            "CONTI DE_LUCA MANCINI COSTA GIORDANO RIZZO LOMBARDI MORETTI"
        ),
        male=_t(
            "GIUSEPPE GIOVANNI ANTONIO MARIO LUIGI FRANCESCO ANGELO VINCENZO PIETRO SALVATORE "
            "MARCO ANDREA LUCA ALESSANDRO"
        ),
        female=_t("MARIA ANNA GIUSEPPINA ROSA ANGELA GIOVANNA TERESA LUCIA CARMELA FRANCESCA SARA GIULIA CHIARA"),
        syllables=_t("ric ci an to nel li ber ga ro ma ta ve del lo bar ti zan ni fa co"),
        family_head_share=0.2,
        second_given=0.3,
    ),
    "es": NameTradition(
        family=_t(
            "GARCÍA RODRÍGUEZ GONZÁLEZ FERNÁNDEZ LÓPEZ MARTÍNEZ SÁNCHEZ PÉREZ GÓMEZ MARTÍN "
            "JIMÉNEZ RUIZ HERNÁNDEZ DÍAZ MORENO ÁLVAREZ MUÑOZ ROMERO ALONSO GUTIÉRREZ TORRES "
            "RAMÍREZ FLORES VARGAS CASTRO"
        ),
        male=_t(
            "JOSÉ ANTONIO JUAN MANUEL FRANCISCO LUIS JAVIER CARLOS MIGUEL ALEJANDRO PEDRO JESÚS ANDRÉS DIEGO SANTIAGO"
        ),
        female=_t("MARÍA CARMEN ANA ISABEL LAURA DOLORES PILAR LUCÍA GUADALUPE SOFÍA VALENTINA CAMILA PAULA ELENA"),
        syllables=_t("gar ci al va rez ber mu dez ca ri llo ve ga so to me na qui ro ta bal"),
        family_head_share=0.45,
        family_zipf=0.8,
        second_given=0.35,
        compound_family=0.85,
    ),
    "pt": NameTradition(
        family=_t(
            "SILVA SANTOS OLIVEIRA SOUZA RODRIGUES FERREIRA ALVES PEREIRA LIMA GOMES COSTA "
            "RIBEIRO MARTINS CARVALHO ALMEIDA LOPES SOARES FERNANDES VIEIRA BARBOSA CONCEIÇÃO"
        ),
        male=_t("JOÃO JOSÉ ANTÔNIO FRANCISCO CARLOS PAULO PEDRO LUCAS LUIZ MARCOS GABRIEL RAFAEL DANIEL MARCELO"),
        female=_t("MARIA ANA FRANCISCA ANTÔNIA ADRIANA JULIANA MÁRCIA FERNANDA PATRÍCIA ALINE BEATRIZ LETÍCIA CAMILA"),
        syllables=_t("ma ca dos ri bei ro fer nan gu mar ães lha ta vo bo te zes rei"),
        family_head_share=0.55,
        family_zipf=0.9,
        second_given=0.45,
        compound_family=0.6,
    ),
    "pl": NameTradition(
        family=_t(
            "NOWAK KOWALSKI WIŚNIEWSKI WÓJCIK KOWALCZYK KAMIŃSKI LEWANDOWSKI ZIELIŃSKI "
            "SZYMAŃSKI WOŹNIAK DĄBROWSKI KOZŁOWSKI JANKOWSKI MAZUR KWIATKOWSKI"
        ),
        male=_t("PIOTR KRZYSZTOF ANDRZEJ TOMASZ PAWEŁ JAN MICHAŁ MAREK GRZEGORZ JAKUB ŁUKASZ ADAM"),
        female=_t("ANNA MARIA KATARZYNA MAŁGORZATA AGNIESZKA BARBARA EWA KRYSTYNA MAGDALENA JOANNA ZOFIA"),
        syllables=_t("kow al ski czyk szew dow wicz lew an zie lin brow ska rzy cha ja mia"),
        family_head_share=0.2,
        second_given=0.15,
    ),
    "uk": NameTradition(
        family=_t(
            "MELNYK SHEVCHENKO KOVALENKO BONDARENKO BOYKO TKACHENKO KRAVCHENKO KOVALCHUK "
            "OLIINYK SHEVCHUK POLISHCHUK LYSENKO MARCHENKO SAVCHENKO RUDENKO"
        ),
        male=_t("OLEKSANDR SERHII ANDRII DMYTRO VOLODYMYR MYKOLA YURII OLEH IVAN VASYL MAKSYM BOHDAN TARAS"),
        female=_t("OLENA NATALIIA TETIANA IRYNA SVITLANA OKSANA YULIIA LIUDMYLA KATERYNA ANASTASIIA VIKTORIIA HALYNA"),
        syllables=_t("ko va len chen ko shev chuk bo dar pet ryk mel nyk sy ro hor dii"),
        family_head_share=0.2,
        second_given=0.0,
    ),
    "ru": NameTradition(
        family=_t(
            "IVANOV SMIRNOV KUZNETSOV POPOV VASILEV PETROV SOKOLOV MIKHAILOV NOVIKOV FEDOROV "
            "MOROZOV VOLKOV ALEKSEEV LEBEDEV SEMENOV"
        ),
        male=_t("ALEKSANDR SERGEI DMITRII ANDREI ALEKSEI MAKSIM IVAN MIKHAIL ARTEM NIKOLAI VLADIMIR EVGENII"),
        female=_t("ELENA OLGA NATALIA TATIANA IRINA SVETLANA ANNA MARIIA EKATERINA ANASTASIIA YULIIA DARIA"),
        syllables=_t("iva nov smir kuz ne tsov po lov mo ro zov ba ra ka gri go ev"),
        family_head_share=0.2,
        second_given=0.0,
    ),
    "tr": NameTradition(
        family=_t(
            "YILMAZ KAYA DEMİR ŞAHİN ÇELİK YILDIZ YILDIRIM ÖZTÜRK AYDIN ÖZDEMİR ARSLAN DOĞAN "
            "KILIÇ ASLAN ÇETİN KARA KOÇ KURT"
        ),
        male=_t("MEHMET MUSTAFA AHMET ALİ HÜSEYİN HASAN İBRAHİM İSMAİL OSMAN YUSUF MURAT EMRE BURAK"),
        female=_t("FATMA AYŞE EMİNE HATİCE ZEYNEP ELİF MERYEM ŞERİFE SULTAN HANİFE ZEHRA ESRA BÜŞRA"),
        syllables=_t("ka ya dem ir öz türk er gün tek in al tay bal ci oğ lu se ven"),
        family_head_share=0.3,
        second_given=0.15,
    ),
    "ar": NameTradition(
        family=_t(
            "AL-AHMAD HASSAN HUSSEIN ALI IBRAHIM ABDULLAH MAHMOUD SALEH KHALIL HAMAD AL-KHATIB "
            "YOUSSEF OMAR MOHAMMED NASSER HADDAD MANSOUR SAID"
        ),
        male=_t("MOHAMMED AHMED ALI OMAR YUSUF MAHMOUD KHALED HASSAN IBRAHIM ABDULLAH MUSTAFA HUSSEIN SAMIR TAREK"),
        female=_t("FATIMA AISHA MARYAM ZAINAB NOUR LAYLA HANA AMAL RANIA SARA YASMIN HIBA SALMA"),
        syllables=_t("al ha sa ma di ra kha lil na sir ja bar mah mud zah ra fa rid qa"),
        family_head_share=0.4,
        second_given=0.3,
    ),
    "fa": NameTradition(
        family=_t(
            "AHMADI MOHAMMADI HUSSAINI RAHIMI KARIMI HAIDARI NOORI SAFI STANIKZAI AZIMI SULTANI AMIRI POPAL WARDAK"
        ),
        male=_t("MOHAMMAD AHMAD ABDUL ALI MUSTAFA JAWAD HAMID NASIR RAHIM KARIM FARID ZABIHULLAH"),
        female=_t("FATIMA ZAHRA MARYAM SHABNAM PARWANA NAZIA FARIDA LAILA SOHAILA MALALAI"),
        syllables=_t("ah ma di ra hi mi kha zai jan gul wa dak sha fi no ri ba"),
        family_head_share=0.45,
        second_given=0.25,
    ),
    "ur": NameTradition(
        family=_t("KHAN ALI AHMED HUSSAIN SHAH BUTT MALIK IQBAL CHAUDHRY RAZA QURESHI AKHTAR MAHMOOD SHEIKH"),
        male=_t("MUHAMMAD ALI AHMED HASSAN USMAN BILAL IMRAN ASIF ZUBAIR FAISAL KAMRAN"),
        female=_t("AYESHA FATIMA SANA AMNA ZAINAB MARIA SADIA NIMRA HINA RABIA"),
        syllables=_t("ra za qu re shi ak tar ma lik nawaz chau dh ry ba jwa ab bas"),
        family_head_share=0.55,
        family_zipf=1.2,
        second_given=0.3,
    ),
    "hi": NameTradition(
        family=_t(
            "KUMAR SINGH SHARMA PATEL GUPTA VERMA YADAV REDDY RAO DAS NAIR IYER JOSHI MISHRA CHAUHAN PILLAI KAUR"
        ),
        male=_t("RAHUL AMIT RAJESH SURESH VIJAY SANJAY ARJUN ROHIT PRADEEP ANIL DEEPAK RAVI VIKRAM"),
        female=_t("PRIYA ANJALI POOJA SUNITA NEHA KAVITA DIVYA LAKSHMI SHREYA ANITA DEEPA MEERA"),
        syllables=_t("ra ja kri shna su bra ma ni ya van ap pa ven ka ta cha lam ga"),
        family_head_share=0.5,
        family_zipf=1.1,
        second_given=0.1,
    ),
    "zh": NameTradition(
        family=_t("WANG LI ZHANG LIU CHEN YANG HUANG ZHAO WU ZHOU XU SUN MA ZHU HU GUO HE LIN LUO GAO ZHENG LIANG"),
        male=_t("WEI JUN HAO YONG JIE TAO MING QIANG LEI HUI BO CHAO PENG XIN YU"),
        female=_t("LI JING YING FANG NA MIN JUAN YAN XIU LING HONG YUN LAN MEI XIN"),
        syllables=_t(
            "xiao ming hua jian guo zhi hong ping jia qing yu zi han yi xin chen rui lin "
            "kai qiu geng yan shu dong bai cai cao cui deng ding du fan feng fu gong gu "
            "hao jiang jin kong lei lu meng mo ni pan qian qin ren shen shi song tan tang "
            "tian wei xie xiong yao ye yin yuan zeng zou"
        ),
        family_syllables=(1, 1),
        given_syllables=(1, 2),
        family_head_share=0.9,
        family_zipf=1.05,
        second_given=0.0,
    ),
    "vi": NameTradition(
        family=_t("NGUYEN TRAN LE PHAM HOANG HUYNH PHAN VU VO DANG BUI DO HO NGO DUONG LY"),
        male=_t("VAN MINH DUC HUNG THANH QUANG TUAN ANH DUNG HAI LONG NAM"),
        female=_t("THI LINH HOA LAN MAI HUONG THUY NGOC TRANG HANH PHUONG THAO"),
        syllables=_t(
            "nguyen thi van minh duc hung anh tuan khanh bao quoc trung hieu thanh cao "
            "dinh doan giang ha khuc kieu lam luong mac mai ninh quach ta thai tong trinh "
            "truong vuong"
        ),
        family_syllables=(1, 1),
        given_syllables=(1, 2),
        family_head_share=0.95,
        family_zipf=1.6,
        second_given=0.7,
    ),
    "ko": NameTradition(
        family=_t("KIM LEE PARK CHOI JUNG KANG CHO YOON JANG LIM HAN OH SEO SHIN"),
        male=_t("MINJUN SEOJUN DOYUN JIHO JUNWOO HYUNWOO SUNGMIN JAEHYUN DONGHYUN"),
        female=_t("SEOYEON JIWOO SEOYUN MINSEO HAYUN JIYEON SUJIN EUNJI HYEJIN"),
        syllables=_t(
            "min jun seo ji ho woo hyun yeon eun su jae dong hye sung baek moon yoo nam "
            "song hong jeon ko ryu bae ahn ha kwon hwang"
        ),
        family_syllables=(1, 1),
        given_syllables=(2, 2),
        family_head_share=0.92,
        family_zipf=1.3,
        second_given=0.0,
    ),
    "ja": NameTradition(
        family=_t("SATO SUZUKI TAKAHASHI TANAKA WATANABE ITO YAMAMOTO NAKAMURA KOBAYASHI KATO YOSHIDA YAMADA SASAKI"),
        male=_t("HIROSHI TAKESHI KENJI DAIKI HARUTO SOTA YUTO KAITO REN"),
        female=_t("YUKI AKIKO YOKO HINA YUI AOI SAKURA MISAKI HARUKA"),
        syllables=_t("ta ka mi ya ma shi ro ki no mo to ha ru yu sa na"),
        family_syllables=(2, 4),
        given_syllables=(2, 3),
        family_head_share=0.3,
        second_given=0.0,
    ),
    "ph": NameTradition(
        family=_t(
            "SANTOS REYES CRUZ BAUTISTA OCAMPO GARCIA MENDOZA TORRES TOMAS ANDRADA CASTILLO "
            "VILLANUEVA RAMOS AQUINO DELA_CRUZ"
        ),
        male=_t("JOHN MARK MICHAEL JOSE JUAN RONALDO JERRY ANGELO JOMAR CHRISTIAN"),
        female=_t("MARY GRACE MARIA JOY ANGELICA KRISTINE JENNIFER ROSALIE MARICEL JOCELYN"),
        syllables=_t("ma ga lang du la ba yan pa ca ta ling si bu ri ton"),
        family_head_share=0.3,
        second_given=0.5,
    ),
    "ng": NameTradition(
        family=_t("OKAFOR ADEYEMI OKONKWO BELLO IBRAHIM MUSA ABUBAKAR OLAWALE EZE OKEKE NWOSU ADEBAYO OGUNLEYE YUSUF"),
        male=_t("CHUKWUEMEKA OLUWASEUN IBRAHIM MUHAMMAD EMEKA TUNDE CHINEDU SAMUEL DANIEL ABDULLAHI"),
        female=_t("CHIOMA NGOZI FUNMILAYO AISHA BLESSING FATIMA ADAEZE OLUWAKEMI MARY ESTHER"),
        syllables=_t("o lu wa se un chi ne du ade ba yo ke mi nwo su eze ogu"),
        family_syllables=(2, 4),
        given_syllables=(2, 4),
        family_head_share=0.2,
        second_given=0.45,
    ),
    "so": NameTradition(
        family=_t("MOHAMED ABDI ALI HASSAN AHMED OMAR ISMAIL FARAH HUSSEIN ADAN WARSAME YUSUF"),
        male=_t("MOHAMED ABDIRAHMAN AHMED ABDULLAHI HASSAN ABDI OMAR ISMAIL YUSUF ABDIKADIR"),
        female=_t("FADUMO HALIMO AMINA HODAN SAHRA NASRA FARHIYO MUNA ASHA IFRAH"),
        syllables=_t("ab di ra xa sa ma ha li mo xu seen cab du la qa dir"),
        family_head_share=0.7,
        family_zipf=1.2,
        second_given=0.6,
    ),
    "er": NameTradition(
        family=_t("TESFAY GEBREMEDHIN HAILE BERHE KIDANE TEKLE GEBRU ABRAHA YOHANNES MEHARI WELDEMICHAEL GHEBREMARIAM"),
        male=_t("YONAS DAWIT SAMUEL MERHAWI FILMON ROBEL BINIAM ARON MIKIEL TESFALEM"),
        female=_t("SENAIT HELEN MERON LWAM SELAM RAHEL SABA HIWET FREWEINI ELSA"),
        syllables=_t("ge bre me dhin ha ile tes fay ki da ne yo han nes we lde"),
        family_syllables=(2, 4),
        given_syllables=(2, 3),
        family_head_share=0.35,
        second_given=0.5,
    ),
}

# Spellings of the same name seen across documents, transliteration schemes and registrars.
KNOWN_VARIANTS: dict[str, tuple[str, ...]] = {
    "MOHAMMED": ("MUHAMMAD", "MOHAMMAD", "MOHAMED", "MOHAMAD", "MUHAMMED"),
    "MOHAMED": ("MOHAMMED", "MOHAMAD", "MAXAMED"),
    "MUHAMMAD": ("MOHAMMAD", "MOHAMMED", "MUHAMAD"),
    "MOHAMMAD": ("MOHAMMED", "MUHAMMAD", "MOHAMAD"),
    "AHMED": ("AHMAD", "AHMET", "AHMMED"),
    "AHMAD": ("AHMED", "AHMET"),
    "YUSUF": ("YOUSSEF", "YOUSEF", "YUSEF", "YOSEF"),
    "YOUSSEF": ("YUSUF", "YOUSEF", "YOUSSOUF"),
    "HUSSEIN": ("HUSSAIN", "HUSEIN", "HOSSEIN", "HUSAYN"),
    "HUSSAIN": ("HUSSEIN", "HUSAIN", "HOSSAIN"),
    "OMAR": ("UMAR", "OMER"),
    "KHALED": ("KHALID", "HALED"),
    "ABDULLAH": ("ABDALLAH", "ABDULLA"),
    "ABDULLAHI": ("ABDULAHI", "CABDULLAHI"),
    "MAHMOUD": ("MAHMUD", "MAHMOOD"),
    "MAHMOOD": ("MAHMUD", "MAHMOUD"),
    "IBRAHIM": ("EBRAHIM", "IBRAHEEM", "IBRAGIM"),
    "HASSAN": ("HASAN", "HASSEN"),
    "AISHA": ("AYESHA", "AICHA", "AYSHA"),
    "FATIMA": ("FATEMA", "FATMA", "FATUMA"),
    "OLEKSANDR": ("ALEKSANDR", "OLEKSANDER", "ALEXANDR", "OLEXANDR"),
    "ALEKSANDR": ("ALEXANDR", "ALEXANDER", "ALEKSANDER"),
    "SERHII": ("SERGII", "SERGEY", "SERHIY", "SERGIY"),
    "SERGEI": ("SERGEY", "SERGUEI", "SERGIY"),
    "ANDRII": ("ANDRIY", "ANDREY", "ANDRIJ"),
    "DMYTRO": ("DMITRO", "DMITRY", "DMITRIY"),
    "YURII": ("YURIY", "IURII", "YURI"),
    "NATALIIA": ("NATALIA", "NATALYA", "NATALIYA"),
    "YULIIA": ("YULIA", "IULIIA", "YULIYA"),
    "TETIANA": ("TATIANA", "TETYANA", "TATYANA"),
    "OLENA": ("ELENA", "OLENNA"),
    "SHEVCHENKO": ("SCHEWTSCHENKO", "CHEVTCHENKO"),
    "KOVALENKO": ("KOWALENKO",),
    "ZHANG": ("CHANG", "CHEUNG"),
    "CHEN": ("CHAN", "CH'EN"),
    "ZHOU": ("CHOU", "CHOW"),
    "LI": ("LEE",),
    "WANG": ("WONG",),
    "HUANG": ("WONG", "HWANG"),
    "LEE": ("YI", "RHEE", "LI"),
    "PARK": ("PAK", "BAK"),
    "CHOI": ("CHOE",),
    "JUNG": ("CHUNG", "JEONG"),
    "NGUYEN": ("NGUYỄN", "NGUEN", "NGYUEN"),
    "TRAN": ("TRẦN",),
    "MÜLLER": ("MUELLER", "MULLER"),
    "SCHRÖDER": ("SCHROEDER", "SCHRODER"),
    "JÜRGEN": ("JUERGEN", "JURGEN"),
    "KUMAR": ("KUMMAR",),
    "CHAUDHRY": ("CHOUDHARY", "CHAUDHARY", "CHOUDHRY"),
    "MUSTAFA": ("MOSTAFA", "MUSTAPHA"),
    "GEBREMEDHIN": ("GEBREMEDHN", "GHEBREMEDHIN"),
    "TESFAY": ("TESFAYE", "TESFAI"),
    "HAILE": ("HAYLE",),
    "YOHANNES": ("YOHANES", "JOHANNES"),
}

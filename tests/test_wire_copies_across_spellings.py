"""Wire copies whose outlets spell the same text differently: Persian with Arabic yeh and kaf (a page in
windows-1256 has no Persian yeh) or without the zero-width non-joiner, Russian with е for ё, and Chinese
reprints with a few words edited, which a shingle of whole clauses missed."""

from __future__ import annotations

from monitor.dedupe import fingerprint as fp

PERSIAN = "\n\n".join(
    [
        "تهران – ایرنا: سخنگوی وزارت امور خارجه ایران روز پنجشنبه گزارش‌ها درباره ارسال موشک‌های بالستیک به "
        "روسیه را رد کرد.",
        "وی گفت جمهوری اسلامی ایران به هیچ یک از طرفین درگیری در اوکراین سلاح نمی‌دهد و این ادعاها بی‌اساس است.",
        "مقام‌های غربی پیش‌تر ادعا کرده بودند که نخستین محموله موشک‌های کوتاه‌برد فتح ۳۶۰ به روسیه تحویل داده "
        "شده است.",
        "آمریکا و متحدانش هشدار داده‌اند که انتقال این موشک‌ها تحریم‌های تازه‌ای علیه تهران در پی خواهد داشت.",
    ]
)
RUSSIAN = "\n\n".join(
    [
        "Ранее США и их союзники предупреждали, что передача ракет приведёт к новым санкциям, а её последствия "
        "ещё предстоит оценить.",
        "Эксперты отмечают, что ракеты способны поражать цели на расстоянии до 120 километров и всё ещё "
        "производятся на заводах, где идёт работа в три смены.",
    ]
)
CHINESE = [
    "新华社德黑兰9月12日电（记者王强）伊朗外交部发言人卡纳尼12日在例行记者会上否认伊朗向俄罗斯运送弹道导弹的报道，"
    "称有关说法是西方国家为转移视线而进行的政治炒作。",
    "卡纳尼表示，伊朗在乌克兰冲突问题上始终坚持中立立场，从未向冲突任何一方提供用于战场的武器装备，伊方愿意同各方就此进行对话。",
    "美国和英国官员本周早些时候声称，伊朗已向俄罗斯交付首批“法塔赫-360”近程弹道导弹，数十名俄罗斯军人此前曾在伊朗境内接受相关操作培训。",
    "美国国务卿布林肯在伦敦表示，美方将对伊朗航空公司和多名伊朗官员实施新的制裁，英国、法国和德国也宣布将采取类似措施。",
    "分析人士指出，“法塔赫-360”导弹射程约为120公里，弹头重约150公斤，可以打击前线附近的军事目标。",
]
CHINESE_OTHER = [
    "新华社莫斯科9月13日电（记者李华）俄罗斯国防部13日发表声明说，俄军在过去一昼夜使用无人机和导弹对乌克兰多地军事目标实施打击，"
    "摧毁了多处弹药库和燃料设施。",
    "声明说，俄防空部队在别尔哥罗德州和库尔斯克州上空击落了乌军发射的二十余架无人机，未造成人员伤亡，部分居民楼受到轻微损坏。",
    "乌克兰总统泽连斯基在视频讲话中呼吁西方国家加快交付防空系统，并再次指责伊朗向俄罗斯提供无人机，伊朗方面此前多次否认这一指控。",
]


def similarity(a: str, b: str) -> float:
    return fp.compare(fp.shingles(a), fp.shingles(b)).similarity


def test_a_persian_copy_in_arabic_letters_or_without_zwnj_is_the_same_text():
    arabic_letters = PERSIAN.replace("ی", "ي").replace("ک", "ك")
    without_zwnj = PERSIAN.replace("\u200c", "")
    assert similarity(PERSIAN, arabic_letters) == 1.0
    assert similarity(PERSIAN, without_zwnj) == 1.0
    assert fp.fingerprint(PERSIAN).band_keys == fp.fingerprint(arabic_letters).band_keys


def test_a_russian_copy_printing_ye_for_yo_is_the_same_text():
    assert similarity(RUSSIAN, RUSSIAN.replace("ё", "е")) == 1.0


def test_a_chinese_reprint_with_a_few_words_edited_is_a_copy():
    edited = [p.replace("12日", "周四").replace("表示", "说").replace("声称", "称") for p in CHINESE[:4]]
    reprint = "\n\n".join(["责任编辑：王明", *edited, "本文来源：新华社。未经授权，不得转载。"])
    original = "\n\n".join(CHINESE)
    assert fp.fingerprint(original).comparable and fp.fingerprint(reprint).comparable
    assert similarity(original, reprint) >= 0.8
    assert similarity(original, "\n\n".join(CHINESE_OTHER)) < 0.05


def test_latin_text_is_signed_as_before():
    text = (
        "Officials in the capital said on Monday that the talks would continue next week, despite objections."
    )
    assert fp.words(text)[:4] == ["officials", "in", "the", "capital"]

"""A deterministic corpus of varied strings for tokenizer parity tests: prose, code, many
scripts, emoji (with ZWJ sequences), white-space runs, control characters, special-token text
inside prose, long repeats and odd Unicode. `corpus(n, seed)` always returns the same list."""
import random

WORDS = ("the of and to in is you that it he was for on are as with his they at be this have "
         "from or one had by word but not what all were we when your can said there use an each "
         "which she do how their if will up other about out many then them these so some her "
         "would make like him into time has look two more write go see number no way could "
         "people my than first water been call who oil its now find long down day did get come "
         "made may part Hello World THE Über naïve café résumé coöperate façade").split()
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'LL",
                "'D", "'M", "'x", "'", "’s", "ſ"]
SCRIPTS = {
    "cjk": "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只主没公从",
    "kana": "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをんアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲンーッャュョ",
    "hangul": "가나다라마바사아자차카타파하한국어의문장입니다안녕하세요감사합니다",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوية ًٌٍَُِّْ السلام عليكم مرحبا بالعالم",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשת שלום עולם",
    "devanagari": "अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशषसहािीुूेैोौंः्नमस्ते दुनिया",
    "thai": "กขฃคฅฆงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮะัาำิีึืุูเแโใไๅ่้๊๋สวัสดีชาวโลก",
    "cyrillic": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ привет мир",
    "greek": "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩάέήίόύώ",
    "misc": "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿĀāĂăĄąĆćŁłŒœŠšŸŽž",
    "numbers": "0123456789٠١٢٣٤٥٦٧٨٩०१२३४५६७८९０１２３４５６７８９ⅠⅡⅢⅣⅻ½¾²³",
    "symbols": "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¡¢£¤¥¦§¨©ª«¬®¯°±´µ¶·¸¹º»¼¿×÷‘’“”„†‡•…‰‹›€™←↑→↓∀∂∃∅∇∈∑√∞≈≠≤≥⌘✓✗★☆♠♣♥♦",
    "math": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐀𝐁𝐂 𝟘𝟙𝟚 ∫∮∯",
}
EMOJI = ["😀", "😂", "🥲", "👍", "👍🏽", "🙏🏿", "❤️", "✅", "🚀", "🎉", "🇺🇸", "🇯🇵", "🏳️‍🌈",
         "👨‍👩‍👧‍👦", "🧑‍💻", "👩🏾‍🚀", "😶‍🌫️", "❤️‍🔥", "🐻‍❄️", "🫠", "🦙", "🙂‍↔️", "#️⃣", "1️⃣"]
SPECIAL_TEXT = ["<|end|>", "<s>", "</s>", "<unk>", "<|user|>", "<|assistant|>", "<|system|>",
                "<|endoftext|>", "<|placeholder3|>", "<|end|", "<|en", "|>", "<<s>>", "<|END|>",
                "<|im_start|>", "<|im_end|>", "[INST]", "<s >", "< s>"]
WHITESPACE = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\t\t", " \t ", "\u00a0",
              "\u3000", "\u2003", "\u2009", "\u202f", "\u0085", "\u2028", "\v", "\f", "\r"]
CONTROL = [chr(c) for c in range(0, 32)] + ["\x7f", "\u200b", "\u200c", "\u200d", "\ufeff",
                                             "\u2060", "\u00ad", "\ufffd", "\U000e0001"]
CODE = [
    "def f(x):\n    return x ** 2  # square\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
    "{\"key\": [1, 2.5, null, true], \"s\": \"a\\\"b\"}",
    "#include <vector>\nint main() { std::vector<int> v{1,2,3}; return v.size(); }\n",
    "SELECT id, name FROM users WHERE age >= 21 ORDER BY name;",
    "    if x != y:\n        raise ValueError(f\"bad {x!r}\")\n",
    "const f = async (a, b) => { await g(a?.b ?? 0); };",
    "<div class=\"x\">Hello &amp; <b>world</b></div>",
    "$ ls -la | grep '.py' && echo \"done\" > /dev/null 2>&1",
    "fn main() { println!(\"{:?}\", vec![1u8; 3]); }",
    "x = [i*i for i in range(10) if i % 2 == 0]\n\n\n",
    "// TODO: fix\n/* block\n   comment */\n",
]


def _random_from(rng, alphabet, lo, hi):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def _prose(rng):
    out = []
    for _ in range(rng.randint(1, 25)):
        w = rng.choice(WORDS)
        if rng.random() < 0.15:
            w = w.capitalize()
        if rng.random() < 0.1:
            w += rng.choice(CONTRACTIONS)
        out.append(w)
        out.append(rng.choice([" ", " ", " ", ", ", ". ", "! ", "? ", "  ", "\n", "; ", " - "]))
    return "".join(out).rstrip(" ") if rng.random() < 0.7 else "".join(out)


def _script(rng):
    name = rng.choice(list(SCRIPTS))
    return _random_from(rng, SCRIPTS[name] + "   ", 1, 40)


def _emoji(rng):
    parts = [rng.choice(EMOJI) for _ in range(rng.randint(1, 6))]
    sep = rng.choice(["", " ", "\u200d", " and "])
    return sep.join(parts)


def _whitespace(rng):
    return "".join(rng.choice(WHITESPACE) for _ in range(rng.randint(1, 8)))


def _control(rng):
    return "".join(rng.choice(CONTROL + ["a", " "]) for _ in range(rng.randint(1, 10)))


def _special(rng):
    left = rng.choice(["", " ", "Hi", "text ", "\n", "x"])
    right = rng.choice(["", " ", "  ", "\n", "there", " there", "\t\tend", "ok "])
    return left + rng.choice(SPECIAL_TEXT) + right


def _repeat(rng):
    unit = rng.choice(["a", " ", "!", "ー", "😀", "ab", "\n", "=", "0", "é", "ก", "\t", "_-"])
    return unit * rng.randint(2, 600)


def _random_codepoints(rng):
    blocks = [(0x20, 0x7E), (0xA0, 0x2FF), (0x300, 0x36F), (0x370, 0x52F), (0x590, 0x6FF),
              (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x2100, 0x27BF),
              (0x3000, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xE000, 0xE0FF),
              (0xFB00, 0xFFFD), (0x10000, 0x1034F), (0x1F300, 0x1FAFF), (0x20000, 0x2A6DF),
              (0xF0000, 0xF00FF)]
    out = []
    for _ in range(rng.randint(1, 20)):
        lo, hi = rng.choice(blocks)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def _digits(rng):
    return rng.choice(["", "x", " ", "$"]) + _random_from(rng, "0123456789", 1, 30) + \
        rng.choice(["", ".", "..", ".5", ",000", " ", "%", "th"])


GENERATORS = [_prose, _prose, _script, _emoji, _whitespace, _control, _special, _repeat,
              _random_codepoints, _digits, lambda rng: rng.choice(CODE)]


def _one(rng):
    if rng.random() < 0.4:  # a mixture of several kinds
        return "".join(rng.choice(GENERATORS)(rng) for _ in range(rng.randint(2, 5)))
    return rng.choice(GENERATORS)(rng)


def corpus(n=10_000, seed=1234):
    rng = random.Random(seed)
    fixed = ["", " ", "  ", "\n", "\t", "a", "A", "<|end|>", "<s>", " <s> ", "</s>  x", "▁", "▁▁a",
             " ▁", "\ufffd", "Hello world", " Hello world", "Hello World!", "3.14159", "'s", "'S",
             "I'M", "ſ's 'ſ", "\r\n\r\n", "a\u0301", "\u0301", "🏳️‍🌈" * 3, "<0x0A>", "<unk>x<unk>"]
    strings = list(fixed)
    while len(strings) < n:
        strings.append(_one(rng))
    return strings

#!/usr/bin/env python3
"""Reference BERT uncased tokenizer, written independently of rtrec's C++ one
from the published algorithm of the original BERT tokenizer (BasicTokenizer +
WordpieceTokenizer, do_lower_case=True), using Python's unicodedata and
str.lower(). Writes tests/data/tokenizer_cases.jsonl: for each tricky input,
the exact ids of [CLS] ... [SEP] with the shipped vocabulary.

Run from the repository root:  python3 tests/reference/bert_tokenizer_reference.py
"""
import json
import unicodedata

VOCAB = "data/bert-base-uncased-vocab.txt"
OUT = "tests/data/tokenizer_cases.jsonl"
MAX_LEN = 512

CASES = [
    "",
    "   \t\n  ",
    "Hello, world!",
    "hello",
    "The quick brown fox jumps over the lazy dog.",
    "Café naïve résumé déjà vu",
    "e\u0301cole",
    "Straße",
    "İstanbul",
    "ΟΔΟΣ Σ ΑΣ.",
    "Привет, мир!",
    "我爱北京天安门",
    "日本語のテキストです",
    "안녕하세요 세계",
    "مرحبا بالعالم",
    "I ❤️ NY 🍕🍕",
    "1234567890 3.14159 1,000,000 2nd 21st",
    "U.S.A. don't won't it's",
    "McDonald's iPhone eBay",
    "https://example.com/path?query=1&x=y#frag",
    "email@example.com",
    "a" * 101,
    "a" * 100,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "tab\there\r\nnewline",
    "ctrl\x00\x07\x1b chars",
    "zero\u200bwidth joiner\u200d",
    "non\u00a0breaking\u2003spaces",
    "line\u2028separator",
    "ＦＵＬＬＷＩＤＴＨ １２３",
    "[CLS] [SEP] [MASK] <s>",
    "$100 @home #hashtag 50% ^_^ ~tilde~ `code`",
    "—em–dash… «quotes» „low“ ¿qué? ¡sí!",
    "Ångström Ω ℃ ﬁ",
    "xylophone zyzzyva qwertyuiop",
    "déjà-vu co-operate state-of-the-art",
]


def load_vocab(path):
    with open(path, encoding="utf-8") as fh:
        return {line.rstrip("\n"): i for i, line in enumerate(fh)}


def is_whitespace(c):
    if c in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(c) == "Zs"


def is_control(c):
    if c in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(c).startswith("C")


def is_punctuation(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def is_chinese(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokenize(text):
    cleaned = []
    for c in text:
        cp = ord(c)
        if cp == 0 or cp == 0xFFFD or is_control(c):
            continue
        cleaned.append(" " if is_whitespace(c) else c)
    spaced = []
    for c in cleaned:
        if is_chinese(ord(c)):
            spaced.extend([" ", c, " "])
        else:
            spaced.append(c)
    words = []
    for token in "".join(spaced).strip().split():
        token = token.lower()
        token = "".join(c for c in unicodedata.normalize("NFD", token)
                        if unicodedata.category(c) != "Mn")
        current = []
        for c in token:
            if is_punctuation(c):
                if current:
                    words.append("".join(current))
                    current = []
                words.append(c)
            else:
                current.append(c)
        if current:
            words.append("".join(current))
    return " ".join(words).strip().split()


def wordpiece(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end, found = len(word), None
        while start < end:
            sub = word[start:end]
            if start > 0:
                sub = "##" + sub
            if sub in vocab:
                found = sub
                break
            end -= 1
        if found is None:
            return ["[UNK]"]
        pieces.append(found)
        start = end
    return pieces


def encode(text, vocab):
    tokens = []
    for w in basic_tokenize(text):
        tokens.extend(wordpiece(w, vocab))
    tokens = tokens[:MAX_LEN - 2]
    return [vocab["[CLS]"]] + [vocab[t] for t in tokens] + [vocab["[SEP]"]], tokens


def main():
    vocab = load_vocab(VOCAB)
    with open(OUT, "w", encoding="utf-8") as fh:
        for text in CASES:
            ids, tokens = encode(text, vocab)
            fh.write(json.dumps({"text": text, "ids": ids, "tokens": tokens},
                                ensure_ascii=True) + "\n")
    print("wrote", OUT, len(CASES), "cases; unicodedata", unicodedata.unidata_version)


if __name__ == "__main__":
    main()

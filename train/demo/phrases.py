"""Text a person might type, or a speech recognizer might emit, about a digit.

Informative text names the digit (as a word or a numeral) inside a short phrase, with typos,
dropped words and filler words. Destroyed text is absent, gibberish, or a phrase about no digit.
No filler or distractor contains a digit word as a substring ("phone" holds "one"), so text is
never actively misleading; `contains_digit_word` checks that and the tests assert it.
"""

from __future__ import annotations

import numpy as np

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# "{d}" is the digit; the bare digit is listed twice because it is the most common input.
TEMPLATES = (
    "{d}", "{d}", "{d} please", "dial {d}", "dial {d} please", "it's a {d}", "its {d}",
    "the number is {d}", "number {d}", "press {d}", "i said {d}", "that's {d}", "{d} i think",
    "uh {d}", "looks like a {d}", "digit {d}", "option {d}", "go to {d}", "channel {d}",
    "{d} again", "is it {d}", "ok {d}", "i want {d}", "{d} is the answer", "pick {d}",
)
FILLERS = (
    "um", "uh", "hmm", "like", "just", "so", "yeah", "hey", "actually", "maybe", "right",
    "well", "okay", "the", "a", "now", "please", "sorry", "wait", "erm", "ah",
)
NO_DIGIT_PHRASES = (
    "hello", "can you hear me", "what was that", "never mind", "hmm", "sorry wrong button",
    "testing testing", "i don't know", "is this working", "hang on", "nothing", "thanks",
    "ok", "yes", "no idea", "let me check", "what", "hold on a sec", "um", "cancel",
)
_KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_VOCABULARY = frozenset(w for p in (*TEMPLATES, *FILLERS, *NO_DIGIT_PHRASES, *DIGIT_WORDS) for w in p.split())
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def contains_digit_word(text: str) -> bool:
    """True if any digit word appears in `text`, even inside another word."""
    low = text.lower()
    return any(w in low for w in DIGIT_WORDS)


def _neighbours(ch: str) -> str:
    """Letters next to `ch` on a QWERTY row (what a slipping finger hits)."""
    for row in _KEYBOARD:
        i = row.find(ch)
        if i >= 0:
            return row[max(i - 1, 0):i] + row[i + 1:i + 2]
    return ch


def typo(word: str, rng: np.random.Generator) -> str:
    """One random edit: delete, swap, double, or hit a neighbouring key ("seven" -> "sevn")."""
    if len(word) < 2:
        return word
    i = int(rng.integers(len(word)))
    op = int(rng.integers(4))
    if op == 0:
        return word[:i] + word[i + 1:]
    if op == 1:
        i = min(i, len(word) - 2)
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == 2:
        return word[:i] + word[i] + word[i:]
    near = _neighbours(word[i])
    return word[:i] + near[int(rng.integers(len(near)))] + word[i + 1:]


def _digit_token(digit: int, rng: np.random.Generator) -> str:
    if rng.random() < 0.3:
        return str(digit)
    word = DIGIT_WORDS[digit]
    if rng.random() >= 0.3:
        return word
    while True:
        # A typo that lands on a real word ("eight" -> "right") would hide the digit.
        misspelt = typo(word, rng)
        if misspelt not in _VOCABULARY:
            return misspelt


def _style(text: str, rng: np.random.Generator) -> str:
    """Casing and punctuation as people and recognizers vary them."""
    r = rng.random()
    if r < 0.15:
        text = text.capitalize()
    elif r < 0.2:
        text = text.upper()
    if rng.random() < 0.15:
        text += str(rng.choice(["?", ".", "!", "..."]))
    return text


def informative_text(digit: int, rng: np.random.Generator) -> str:
    """A phrase naming `digit` (0..9), with mild noise: typos, a dropped word, fillers."""
    words = str(rng.choice(TEMPLATES)).split()
    others = [k for k, w in enumerate(words) if w != "{d}"]
    if others and rng.random() < 0.25:
        del words[int(rng.choice(others))]
    words = [typo(w, rng) if w != "{d}" and rng.random() < 0.1 else w for w in words]
    for _ in range(int(rng.choice([0, 0, 1, 2]))):
        words.insert(int(rng.integers(len(words) + 1)), str(rng.choice(FILLERS)))
    token = _digit_token(digit, rng)
    return _style(" ".join(token if w == "{d}" else w for w in words), rng)


def gibberish(rng: np.random.Generator) -> str:
    """Random letters in 1-3 'words', as from a keyboard mash; never holds a digit word."""
    while True:
        n_words = int(rng.integers(1, 4))
        words = ["".join(rng.choice(list(_LETTERS), size=int(rng.integers(2, 8)))) for _ in range(n_words)]
        text = " ".join(words)
        if not contains_digit_word(text):
            return text


def destroyed_text(rng: np.random.Generator) -> str | None:
    """Text that carries no digit: None (no text at all) half the time, else gibberish or chatter."""
    r = rng.random()
    if r < 0.5:
        return None
    if r < 0.75:
        return gibberish(rng)
    return _style(str(rng.choice(NO_DIGIT_PHRASES)), rng)

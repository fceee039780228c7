"""The one owner of PII redaction: reps' text is redacted here before it is stored or logged.

Reps paste what customers wrote, so situation text can hold e-mail addresses, phone
numbers, card numbers and account or order numbers, names, street addresses, card security
codes and dates of birth. :func:`redact` swaps them for placeholders (``[email]``,
``[phone]``, ``[card]``, ``[number]``, ``[name]``, ``[address]``, ``[cvv]``, ``[dob]``,
``[id]``) and leaves ordinary customer-service prose ("refund takes 7-10 days", "call back
at 3pm", "Customer Service") readable. Names are caught after a cue ("customer Jane Roe",
"Mrs. Alvarez", "my name is …"), not everywhere: a capitalised word alone is not a name.
:class:`RedactingFilter` does the same to log records.

Storage (``bot.storage``) and logging (``bot.logs``) both import these names directly,
so there is one set of patterns and a missing one fails at import, not silently.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

#: What one person wrote reaches another only as a count or as words at least this many
#: different people used, never as their text (suggested prompts, reports to admins).
MIN_ASKERS = 3

EMAIL = "[email]"
PHONE = "[phone]"
CARD = "[card]"
NUMBER = "[number]"
NAME = "[name]"
ADDRESS = "[address]"
CVV = "[cvv]"
DOB = "[dob]"
ORDER_ID = "[id]"

#: Slack wraps links it recognises: <mailto:a@b.co|a@b.co>, <tel:+15551234567|555 123 4567>.
_SLACK_MAILTO = re.compile(r"<mailto:[^>]*>", re.IGNORECASE)
_SLACK_TEL = re.compile(r"<tel:[^>]*>", re.IGNORECASE)

_LOCAL = r"[^\s@<>()\[\],;:\"\\]"  # what a local part may hold, up to markup
_EMAIL = re.compile(
    # Linear on any text: a local part starts only where the previous character cannot
    # belong to one (the lookbehind), and is taken whole (possessive ``++``), so a long run
    # without "@" is read once, not once per starting position (that was quadratic:
    # 16,000 letters took 8 s).
    rf"(?<!{_LOCAL}){_LOCAL}++"
    r"(?:@|\s?[\[(]at[\])]\s?)"  # also "john [at] example [dot] com"
    r"[\w-]++(?:(?:\.|\s?[\[(]dot[\])]\s?)[\w-]++)+",
    re.IGNORECASE,
)

#: Runs of digit groups joined by one separator (space, dot, dash, slash, brackets).
_SP = r"[ \u00a0\t]"
_SEP = rf"(?:{_SP}?[-.\u2010-\u2015/]{_SP}?|{_SP}|\){_SP}?|{_SP}?\()"
_DIGITS = re.compile(rf"(?<!\d)\+?\(?\d+(?:{_SEP}\d+)*\)?")

# Digit runs that are prose, not personal data: dates, year and time ranges, prices.
_ISO_DATE = re.compile(r"(?:19|20)\d\d([-./])(0?[1-9]|1[0-2])\1(0?[1-9]|[12]\d|3[01])")
_DMY_DATE = re.compile(r"(0?[1-9]|[12]\d|3[01])([-./])(0?[1-9]|[12]\d|3[01])\2(?:19|20)?\d\d")
_YEAR_RANGE = re.compile(r"((?:19|20)\d\d) ?[-\u2013] ?((?:19|20)?\d\d)")
_TIME_RANGE = re.compile(r"\d{1,2}[.:]\d\d ?- ?\d{1,2}[.:]\d\d")
_AMOUNT = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d\d)?|\d{1,5}(?:[.,]\d\d)?")
_CURRENCY_BEFORE = re.compile(r"(?:[$€£¥₹]|\b(?:usd|eur|gbp|cad|aud))\s?$", re.IGNORECASE)

#: Shortest digit run treated as an account/order/reference number.
MIN_NUMBER_DIGITS = 6


def is_date_like(candidate: str) -> bool:
    """Dates ("2024-01-15", "12/05/2024") and year or time ranges stay readable."""
    if _ISO_DATE.fullmatch(candidate) or _DMY_DATE.fullmatch(candidate):
        return True
    if _TIME_RANGE.fullmatch(candidate):
        return True
    years = _YEAR_RANGE.fullmatch(candidate)
    if years:
        first, second = years.group(1), years.group(2)
        last = int(first[:2] + second) if len(second) == 2 else int(second)
        return 0 < last - int(first) <= 10
    return False


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` passes the Luhn checksum every payment card number carries."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _is_phone_shaped(candidate: str, digit_count: int) -> bool:
    """International prefix, brackets or separators: how people write phone numbers (E.164 ≤ 15)."""
    if candidate.startswith("+"):
        return 6 <= digit_count <= 15
    if not 7 <= digit_count <= 15:
        return False
    if "(" in candidate:
        return True
    return any(sep in candidate for sep in " -.\u00a0") or digit_count in (10, 11)


def _classify(candidate: str, before: str) -> str | None:
    """The placeholder for a run of digits, or None to keep it (dates, prices, short numbers)."""
    digits = "".join(ch for ch in candidate if ch.isdigit())
    count = len(digits)
    if count < MIN_NUMBER_DIGITS:
        return None
    stripped = candidate.strip("()+ ")
    if is_date_like(stripped):
        return None
    if _CURRENCY_BEFORE.search(before) and _AMOUNT.fullmatch(stripped):
        return None  # "$1,249.99" is a price, not an account number
    if 13 <= count <= 19 and luhn_ok(digits) and not candidate.startswith(("+", "(")):
        return CARD  # cards never start with "+" or a bracket; phones do
    if _is_phone_shaped(candidate, count):
        return PHONE
    return NUMBER


def _redact_digits(text: str) -> str:
    """One pass over the digit runs, so each is classified once in its surrounding text."""
    out: list[str] = []
    last = 0
    for match in _DIGITS.finditer(text):
        candidate = match.group(0)
        start, end = match.span()
        # Keep brackets that belong to the prose, not to a number like "(555) 123-4567".
        opened, closed = candidate.count("("), candidate.count(")")
        if candidate.endswith(")") and (
            closed > opened or (opened == closed == 1 and candidate[0] == "(")
        ):
            candidate = candidate[:-1]
            end -= 1
            closed -= 1
        if candidate.startswith("(") and closed == 0:
            candidate = candidate[1:]
            start += 1
        placeholder = _classify(candidate, text[max(0, start - 8) : start])
        if placeholder is None:
            continue
        out.append(text[last:start])
        out.append(placeholder)
        last = end
    out.append(text[last:])
    return "".join(out)


# -- cue-led kinds: each pattern is a bounded sequence, so it costs O(1) per start position.

_WORD = r"[A-Z][A-Za-z'’-]{1,24}"
#: Who a name follows: a role ("customer", "caller"...), an honorific, or "my name is".
_NAME = re.compile(
    r"(?<![\w])(?:(?i:customer|caller|client|guest|patient|member|cardholder|passenger|tenant"
    r"|subscriber|named|name is|name's|name:|this is"
    r"|(?:spoke|talked|speaking|talking)[ \t]+(?:to|with)|asked[ \t]+for)"
    r"|(?i:mr|mrs|ms|miss|mx|dr)\.?)[ \t]+"  # only an honorific takes a dot: "customer. Do"
    rf"({_WORD}(?:[ \t]{_WORD}){{0,2}})"
)
#: Capitalised words after a cue that are not names ("Customer Service", "caller Monday").
_NOT_NAMES = frozenset(
    "service services support care success experience relations team portal account id "
    "assistance help desk center centre line "
    "i the a an and or but this that he she they we you it his her their our my your "
    "monday tuesday wednesday thursday friday saturday sunday january february march april "
    "may june july august september october november december today yesterday tomorrow "
    "please thanks hi hello ok okay yes no wants says said called is was".split()
)
_STREET = (
    r"(?i:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl"
    r"|terrace|highway|hwy|parkway|pkwy|circle|cir)"
)
_ADDRESS = re.compile(
    r"(?<![\w])\d{1,6}[ \t]+(?:[NSEW]\.?[ \t]+)?(?:[A-Z0-9][\w'’.-]{0,24}[ \t]+){1,4}"
    rf"{_STREET}\b\.?"
    r"(?:,?[ \t]*(?i:apt|apartment|suite|ste|unit|#)\.?[ \t]*[\w-]{1,8})?"
)
_CVV = re.compile(
    r"((?<![\w])(?i:cvv2?|cvc2?|cid|security[ \t]+code|card[ \t]+code)"
    r"[ \t]*(?:is|:|=|#|-)?[ \t]*)\d{3,4}(?!\d)"
)
_MONTH = r"(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]{0,6}\.?"
_DATE = (
    r"(?:\d{1,4}[-./]\d{1,2}[-./]\d{1,4}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?[ \t]+{_MONTH},?[ \t]+\d{{2,4}}"
    rf"|{_MONTH}[ \t]+\d{{1,2}}(?:st|nd|rd|th)?,?[ \t]+\d{{2,4}})"
)
_DOB = re.compile(
    r"((?<![\w])(?i:dob|d\.o\.b\.?|date[ \t]+of[ \t]+birth|birth[ \t]*date|birthday"
    r"|born(?:[ \t]+on)?)[ \t]*(?:is|:|-)?[ \t]*)"
    rf"{_DATE}"
)
#: An order-like reference after a cue ("order #A-1234", "case 4471"), or "#" + code.
_ID_CUE = re.compile(
    r"((?<![\w])(?i:order|ticket|case|ref|reference|confirmation|booking|tracking|invoice"
    r"|account|acct|policy|claim|reservation|membership)"
    r"(?:[ \t]+(?i:number|no\.?|num|id))?[ \t]*[:#]?[ \t]*)"
    r"([A-Za-z0-9][A-Za-z0-9-]{2,24})(?![\w-])"
)
_HASH_ID = re.compile(r"(?<![\w&])#([A-Za-z0-9][A-Za-z0-9-]{2,24})(?![\w-])")


def _digit_count(token: str) -> int:
    return sum(ch.isdigit() for ch in token)


def _name(match: re.Match[str]) -> str:
    """Replace the cue's capitalised words up to the first that is not a name. A role word
    capitalised inside a sentence is title case, not a cue ("How the Customer Perceives a
    Truth as a Lie", "Let the Patient Sleep")."""
    cue_word = match.group(0)[:1]
    if (
        cue_word.isupper()
        and match.group(0)[:2].lower() not in ("mr", "ms", "mx", "dr", "mi")
        and not _opens_sentence(match.string, match.start())
    ):
        return match.group(0)
    words = match.group(1).split()
    kept = 0
    while kept < len(words) and words[kept].lower() not in _NOT_NAMES and not words[kept].isupper():
        kept += 1
    if not kept:
        return match.group(0)
    cue = match.group(0)[: match.start(1) - match.start(0)]
    rest = match.group(1).split(None, kept)[kept:] if kept < len(words) else []
    return cue + NAME + ("".join(" " + r for r in rest))


def _order_id(match: re.Match[str]) -> str:
    token = match.group(2)
    if _digit_count(token) < 3:
        return match.group(0)
    return match.group(1) + ORDER_ID


def _hash_id(match: re.Match[str]) -> str:
    return ORDER_ID if _digit_count(match.group(1)) >= 3 else match.group(0)


# -- names without a cue, postcodes, IBANs, dates of birth in words ---------------------------

_DATA = Path(__file__).resolve().parent / "data"


def _name_list(file: str) -> frozenset[str]:
    """The names of one list (three letters or more: "Al", "My" and "So" are words first)."""
    lines = (_DATA / file).read_text(encoding="utf-8").splitlines()
    return frozenset(
        line.strip() for line in lines if len(line.strip()) >= 3 and not line.startswith("#")
    )


#: First names and the 20,000 most frequent surnames of the US Census (bot/data/).
FIRST_NAMES = _name_list("first_names.txt")
LAST_NAMES = _name_list("last_names.txt")
#: First names that are everyday words, months or places: never a name on their own.
EVERYDAY_NAMES = frozenset(
    """love truth patience miss america china india asia africa europe milan verona
    florence jersey kentucky florida nevada alabama montana dakota arizona indiana
    tennessee missouri vienna geneva lorraineal amber an angel april art august aurora austin autumn baby baker bill bo booker brandy brook brooks buck buddy camden candy carl carol carolina carter chance charity charlotte chase chelsea cherry chip christian clay cliff constance cook cooper crystal daisy dale dallas dawn de dean del dell denver destiny don drew earnest ed ernest faith fisher florence forest frank friday gay gene georgia ginger glen grace grant guy hall harmony heather holly honey hope houston hudson hunter iris ivy jack jackson jade january jasmine jo joiner jordan joy june justice king la lady lane le lee liberty lily lincoln logan long love lu lucky ma madison major man march mark marshall mason may melody mercy merry miles misty mo monday morgan neil nelson nick noble olive orlando pa page paris parker pat patience pearl penny phoenix porter price princess prudence rain ray reed rich river rob robin rose royal ruby rusty ryan sandy saturday savannah sharp skip sky sly so son sonny spring star sterling stone stormy sue summer sunday sunny sydney tanner taylor thursday tom tony trinity troy tuesday ty tyler val van vernon victoria vince violet virginia von wade ward warren wednesday will winter young""".split()
)
_CAPITAL = r"[A-Z][a-z'’]+(?:-[A-Z][a-z'’]+)?"
#: One capitalised word standing alone (not inside an e-mail, a path or a longer token).
_CAPITALISED = re.compile(rf"(?<![\w'’.@/-]){_CAPITAL}(?![\w@/])")
#: Verbs that follow a person's name as the subject of a sentence ("Margaret called").
_SUBJECT_VERB = re.compile(
    r"[ \t]+(?:said|says|called|calls|asked|asks|wants|wanted|was|is|has|had|keeps|kept"
    r"|just|told|emailed|wrote|phoned|came|left|needs|needed|paid|ordered)\b"
)


def _opens_sentence(text: str, start: int) -> bool:
    """Whether ``text[start:]`` begins a sentence: only spaces back to the text's start or
    to sentence punctuation. Looks back over the spaces alone, so it costs O(1) per word."""
    k = start
    while k > 0 and text[k - 1] in " \t\n":
        k -= 1
    return k == 0 or text[k - 1] in '.!?:;\n"“(-'


def _redact_capitalised(text: str) -> str:
    """Names with no cue: a known first name followed by known surnames ("Derek Olsen"), a
    known first name alone inside a sentence ("I told Margaret"), or at a sentence's start
    before a verb ("Margaret called again"). Everyday words that are also names ("Will",
    "May", "Grace") and places ("Denver") stay, and so does a name followed by another
    capitalised word that is no surname ("Jamey Needed to Slow Down" is a title)."""
    words = list(_CAPITALISED.finditer(text))
    out: list[str] = []
    last, i = 0, 0
    while i < len(words):
        word = words[i]
        first = word.group(0)
        if first not in FIRST_NAMES or first.lower() in EVERYDAY_NAMES:
            i += 1
            continue
        end, j = word.end(), i + 1
        while (  # surnames (or a second first name) directly after it, one space apart
            j < len(words)
            and text[end : words[j].start()] in (" ", "\t")
            and (words[j].group(0) in LAST_NAMES or words[j].group(0) in FIRST_NAMES)
        ):
            end, j = words[j].end(), j + 1
        if j == i + 1:  # a first name alone
            follows = words[j] if j < len(words) else None
            if follows is not None and text[end : follows.start()] in (" ", "\t"):
                i += 1
                continue  # "Jamey Needed": capitalised words run on, a title
            if _opens_sentence(text, word.start()) and not _SUBJECT_VERB.match(text, end):
                i += 1
                continue
        out.append(text[last : word.start()])
        out.append(NAME)
        last, i = end, j
    out.append(text[last:])
    return "".join(out)


#: Postcodes: UK ("SW1A 1AA") and a US state with its ZIP ("IL 62704", "CA 94105-1234").
_UK_POSTCODE = re.compile(r"(?<![\w])[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}(?![\w])")
_US_STATE_ZIP = re.compile(
    r"(?<![\w])(?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]"
    r"|PA|RI|S[CD]|T[NX]|UT|V[AT]|W[AIVY])[ \t]+\d{5}(?:-\d{4})?(?![\w])"
)
#: A street address with no house-number-first shape: "flat 3, 22 Acacia Road" is caught by
#: _ADDRESS; this adds the UK's "Flat 3" / "Apartment 4B" lead-in.
_FLAT = re.compile(
    r"(?<![\w])(?i:flat|apt|apartment|unit|suite)\.?[ \t]+\d{1,4}[A-Za-z]?,?(?=[ \t]*\[address\])"
)
#: An IBAN written without spaces ("GB82WEST12345698765432"): country, check digits, 11-30.
_IBAN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}[A-Z0-9]{11,30}(?![\w])")
_ORDINAL_WORDS = (
    r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth"
    r"|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth"
    r"|twentieth|thirtieth|twenty[- ](?:first|second|third|fourth|fifth|sixth|seventh|eighth"
    r"|ninth)|thirty[- ]first)"
)
_YEAR_WORDS = r"(?:\d{4}|(?:nineteen|twenty)(?:[- ](?:hundred|oh|o))?(?:[- ][a-z]+){1,2})"
_DATE_IN_WORDS = (
    rf"(?i:(?:the[ \t]+)?{_ORDINAL_WORDS}[ \t]+(?:of[ \t]+)?{_MONTH},?[ \t]+{_YEAR_WORDS}"
    rf"|{_MONTH}[ \t]+(?:the[ \t]+)?{_ORDINAL_WORDS},?[ \t]+{_YEAR_WORDS})"
)
_DOB_WORDS = re.compile(
    r"((?<![\w])(?i:dob|d\.o\.b\.?|date[ \t]+of[ \t]+birth|birth[ \t]*date|birthday"
    r"|born(?:[ \t]+on)?)[ \t]*(?:is|was|:|-)?[ \t]*)"
    rf"{_DATE_IN_WORDS}"
)


#: Characters that change how text is shown without being seen: bidi overrides and
#: isolates (a title that reads backwards), zero-width spaces and joiners, the BOM.
_INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def visible(text: str) -> str:
    """``text`` without invisible formatting characters: what one person typed is shown to
    anyone else (a thread title, a quote, a leads post) exactly as it reads."""
    return _INVISIBLE.sub("", text)


def redact(text: str) -> str:
    """``text`` with personal data replaced by placeholders (see the module docstring)."""
    if not text:
        return text
    text = visible(text)  # "Der\u200bek" must not hide a name from the patterns
    text = _SLACK_MAILTO.sub(EMAIL, text)
    text = _SLACK_TEL.sub(PHONE, text)
    text = _EMAIL.sub(EMAIL, text)
    text = _CVV.sub(lambda m: m.group(1) + CVV, text)
    text = _DOB.sub(lambda m: m.group(1) + DOB, text)
    text = _DOB_WORDS.sub(lambda m: m.group(1) + DOB, text)
    text = _IBAN.sub(NUMBER, text)
    text = _ADDRESS.sub(ADDRESS, text)
    text = _FLAT.sub("", text)
    text = _UK_POSTCODE.sub(ADDRESS, text)
    text = _US_STATE_ZIP.sub(ADDRESS, text)
    text = _redact_digits(text)
    text = _ID_CUE.sub(_order_id, text)
    text = _HASH_ID.sub(_hash_id, text)
    text = _NAME.sub(_name, text)
    return _redact_capitalised(text)


def redact_optional(text: str | None) -> str | None:
    """:func:`redact` that passes None through (optional comments, error messages)."""
    return None if text is None else redact(text)


#: LogRecord attributes that are the logging machinery's own, never user text.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


#: A whole field value that is one of Slack's own ids or timestamps (channel, user, team,
#: event id, message ts, trigger id): not personal data, and the logs need them intact.
_SLACK_IDENTIFIER = re.compile(
    r"[UWCGDTEBFSA][A-Z0-9]{6,14}|Ev[A-Za-z0-9]{6,}|\d{9,10}\.\d{6}|\d+\.\d+\.[0-9a-f]{16,}"
)


def is_slack_identifier(value: str) -> bool:
    """True for a value like "C0123ABCD", "Ev0PV52K21", "1700000000.000100"."""
    return _SLACK_IDENTIFIER.fullmatch(value) is not None


def _redact_value(value: Any, depth: int = 0) -> Any:
    """Redact strings inside ``extra`` values (structured logs pass dicts and lists)."""
    if isinstance(value, str):
        return value if is_slack_identifier(value) else redact(value)
    if depth >= 4:
        return value
    if isinstance(value, dict):
        return {key: _redact_value(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(item, depth + 1) for item in value)
    return value


class RedactingFilter(logging.Filter):
    """Redacts every log record's message, arguments, ``extra`` strings and traceback text.

    It goes on a handler (``bot.logs.build_handler`` adds it) rather than on a logger:
    a logger's filters do not see records that propagate up from child loggers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what we have, redacted
            message = f"{record.msg} {record.args}"
        record.msg = redact(message)
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _RECORD_FIELDS:
                setattr(record, key, _redact_value(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True

"""Distributions of the synthetic Olist generator: calendar growth, statuses, prices,
payments, identities and Portuguese review texts (reference data: ``synthetic_reference``).

Every function draws from the ``random.Random`` it is given, so a seed fixes the output. The
shapes approximate the public Olist data set (2016-09 to 2018-10); see ``producers.synthetic``.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import accumulate
from typing import Generic, TypeVar

from security.masking import complete_cpf

# Typical price level per category against the overall median (others: 1).
_PRICE_FACTOR = {"pcs": 9.0, "eletrodomesticos_2": 4.0, "portateis_casa_forno_e_cafe": 3.5}
_PRICE_FACTOR |= {"climatizacao": 1.8, "relogios_presentes": 1.8, "moveis_escritorio": 1.7}
_PRICE_FACTOR |= {"instrumentos_musicais": 1.6, "telefonia": 0.6, "papelaria": 0.7}
UNCATEGORISED_SHARE = 0.015  # products without category, name or description length, as in Olist

T = TypeVar("T")


class Weighted(Generic[T]):
    """Draws items by relative weight."""

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        self.items = list(items)
        self.cum = list(accumulate(weights))

    def draw(self, rng: random.Random) -> T:
        return rng.choices(self.items, cum_weights=self.cum)[0]


def new_id(rng: random.Random) -> str:
    """A 32-character lowercase hex id (a version-4 UUID drawn from ``rng``)."""
    return uuid.UUID(int=rng.getrandbits(128), version=4).hex


def _lognormal(rng: random.Random, median: float, sigma: float, low: float, high: float) -> float:
    return min(max(math.exp(rng.gauss(math.log(median), sigma)), low), high)


def product_price(rng: random.Random, category: str) -> int:
    """A list price in cents: log-normal, median about R$ 75, within R$ 0.85 .. 6,735."""
    value = _lognormal(rng, 75.0 * _PRICE_FACTOR.get(category, 1.0), 0.95, 0.85, 6735.0)
    return round(value * 100)


def product_columns(rng: random.Random, category: str) -> tuple[list[str], int]:
    """The products-file columns after product_id, and the weight in grams."""
    weight = round(_lognormal(rng, 700, 1.2, 50, 40425))
    dims = [
        str(round(_lognormal(rng, median, sigma, low, high)))
        for median, sigma, low, high in ((25, 0.5, 7, 105), (13, 0.7, 2, 105), (20, 0.45, 6, 118))
    ]
    if not category:
        return ["", "", "", "", str(weight), *dims], weight
    name = round(min(max(rng.gauss(49, 10), 5), 76))
    description = round(_lognormal(rng, 600, 0.7, 4, 3992))
    photos = rng.choices(range(1, 11), (50, 20, 12, 7, 5, 3, 1, 1, 0.5, 0.5))[0]
    return [category, str(name), str(description), str(photos), str(weight), *dims], weight


def freight(rng: random.Random, weight_g: int) -> int:
    """Freight of one item in cents: median about R$ 16, heavier goods dearer, at most 409.68."""
    if rng.random() < 0.004:
        return 0  # free shipping
    return min(round(_lognormal(rng, 14.5, 0.45, 1.0, 500.0) * (1 + weight_g / 7000) * 100), 40968)


# --- orders ----------------------------------------------------------------------------------

START = datetime(2016, 9, 4)
END = datetime(2018, 10, 17, 23, 59, 59)
DAY = 86_400
# Orders per month in the public data, 2016-09 .. 2018-10 (its empty months smoothed).
_MONTH_WEIGHTS = (20, 320, 40, 60, 800, 1780, 2680, 2400, 3700, 3250, 4030, 4330, 4290)
_MONTH_WEIGHTS += (4630, 7540, 5670, 7270, 6730, 7210, 6940, 6870, 6170, 6290, 6510, 120, 30)

ORDER_STATUSES = ("delivered", "shipped", "canceled", "unavailable", "invoiced", "processing")
ORDER_STATUSES += ("created", "approved")
STATUSES = Weighted(ORDER_STATUSES, (97.02, 1.11, 0.63, 0.61, 0.32, 0.30, 0.005, 0.002))
ITEM_COUNTS = Weighted(range(1, 7), (90.0, 7.5, 1.35, 0.55, 0.3, 0.3))
LATE_SHARE = 0.081  # of delivered orders, delivered after the estimated date


def _month_bounds() -> list[tuple[datetime, int]]:
    bounds = []
    year, month = START.year, START.month
    for _ in _MONTH_WEIGHTS:
        first = max(datetime(year, month, 1), START)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        last = min(datetime(year, month, 1), END + timedelta(seconds=1))
        bounds.append((first, int((last - first).total_seconds())))
    return bounds


def purchase_times(rng: random.Random, count: int) -> list[datetime]:
    """``count`` purchase timestamps between START and END, growing like Olist's, sorted."""
    bounds = _month_bounds()
    months = rng.choices(range(len(bounds)), weights=_MONTH_WEIGHTS, k=count)
    times = [bounds[m][0] + timedelta(seconds=rng.randrange(bounds[m][1])) for m in months]
    return sorted(times)


@dataclass(frozen=True)
class Timeline:
    """An order's milestones; None where the status has not reached them."""

    approved: datetime | None
    carrier: datetime | None
    delivered: datetime | None
    estimated: datetime
    late: bool


def _after(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(seconds=int(seconds))


def timeline(rng: random.Random, purchase: datetime, status: str, boleto: bool) -> Timeline:
    """Milestones consistent with the status; estimated delivery 1..6 weeks after purchase."""
    estimated = datetime.combine(purchase.date(), datetime.min.time())
    estimated += timedelta(days=round(rng.triangular(8, 42, 20)))
    span = (estimated - purchase).total_seconds()
    if boleto:
        delay = rng.uniform(0.4 * DAY, 3 * DAY)  # a bank slip is paid days later
    else:
        delay = rng.uniform(60, 3600) if rng.random() < 0.85 else rng.uniform(3600, 2 * DAY)
    approved = _after(purchase, delay)
    carrier = _after(approved, rng.uniform(0.3 * DAY, max(DAY, 0.35 * span)))
    late = status == "delivered" and rng.random() < LATE_SHARE
    if late:
        extra = rng.uniform(3600, 3 * DAY) if rng.random() < 0.5 else rng.uniform(3 * DAY, 30 * DAY)
        delivered = _after(estimated, extra)
    else:
        delivered = _after(carrier, (estimated - carrier).total_seconds() * rng.uniform(0.1, 0.95))
    # How many of (approved, carrier, delivered) the status has reached.
    reached = {"delivered": 3, "shipped": 2, "created": 0}.get(status, 1)
    if status == "canceled":
        reached = 0 if rng.random() < 0.2 else 2 if rng.random() < 0.12 else 1
    moments = [approved, carrier, delivered][:reached] + [None] * (3 - reached)
    return Timeline(*moments, estimated=estimated, late=late)


# --- payments --------------------------------------------------------------------------------

PAYMENT_TYPES = Weighted(("credit_card", "boleto", "voucher", "debit_card"), (76.8, 19.9, 1.8, 1.5))
_INSTALLMENTS = Weighted(range(1, 11), (33, 16, 13.6, 9.2, 6.8, 5.1, 2.1, 5.5, 0.8, 6.9))


def split_cents(rng: random.Random, cents: int, parts: int) -> list[int]:
    """``cents`` cut at random into ``parts`` positive amounts (fewer if it is too small)."""
    parts = max(1, min(parts, cents))
    cuts = sorted(rng.sample(range(1, cents), parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, cents], strict=True)]


def payment_plan(rng: random.Random, kind: str, total: int) -> list[tuple[str, int, int]]:
    """(payment_type, installments, cents) in sequence, summing to ``total`` cents: vouchers
    alone are often split, and a card payment sometimes shares the bill with vouchers."""
    if kind == "voucher":
        count = rng.choices((1, 2, 3, 4, 5), (55, 25, 11, 6, 3))[0]
        return [("voucher", 1, cents) for cents in split_cents(rng, total, count)]
    installments = 1
    if kind == "credit_card":  # at least R$ 10 per installment
        installments = min(_INSTALLMENTS.draw(rng), max(1, total // 1000))
    if kind == "credit_card" and total >= 200 and rng.random() < 0.025:
        vouchers = int(total * rng.uniform(0.05, 0.6))
        parts = split_cents(rng, vouchers, 1 if rng.random() < 0.75 else 2)
        return [(kind, installments, total - vouchers)] + [("voucher", 1, c) for c in parts]
    return [(kind, installments, total)]


# --- people ----------------------------------------------------------------------------------

_BIRTH_FIRST = date(1945, 1, 1)
_BIRTH_DAYS = (date(2001, 1, 1) - _BIRTH_FIRST).days


def cpf(rng: random.Random) -> str:
    """A CPF with valid check digits, punctuated (``123.456.789-09``) or digits only."""
    digits = complete_cpf(f"{rng.randrange(10**9):09d}")
    while len(set(digits)) == 1:  # 111.111.111-11 and the like are not issued
        digits = complete_cpf(f"{rng.randrange(10**9):09d}")
    if rng.random() < 0.6:
        return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"
    return digits


_PHONE_FORMATS = ("({ddd}) {head}-{tail}", "+55 {ddd} {head}-{tail}", "{ddd} {head}-{tail}")
_PHONE_STYLES = Weighted((*_PHONE_FORMATS, "{ddd}{head}{tail}"), (45, 20, 20, 15))


def phone(rng: random.Random, ddd: int) -> str:
    """A mobile (9 digits) or landline (8) number with the city's area code, in one of the
    usual spellings: ``(11) 91234-5678``, ``+55 11 91234-5678``, ``11 3456-7890``, digits."""
    if rng.random() < 0.8:
        number = f"9{rng.randint(6, 9)}{rng.randrange(10**7):07d}"
    else:
        number = f"{rng.randint(2, 5)}{rng.randrange(10**7):07d}"
    return _PHONE_STYLES.draw(rng).format(ddd=ddd, head=number[:-4], tail=number[-4:])


def birth_date(rng: random.Random) -> str:
    """A birth date between 1945 and 2000, ``YYYY-MM-DD``."""
    return (_BIRTH_FIRST + timedelta(days=rng.randrange(_BIRTH_DAYS))).isoformat()


# --- reviews ---------------------------------------------------------------------------------

_SCORES = {
    "on_time": Weighted(range(1, 6), (8.2, 2.4, 7.7, 20.1, 61.6)),
    "late": Weighted(range(1, 6), (45, 8, 12, 12, 23)),
    "undelivered": Weighted(range(1, 6), (70, 8, 7, 5, 10)),
}
_MESSAGE_SHARE = {1: 0.75, 2: 0.7, 3: 0.55, 4: 0.35, 5: 0.33}
# Per mood: a line of titles, then sentences separated by "|".
_TEXTS = {
    "good": """Recomendo|Super recomendo|Ótimo|Excelente|Muito bom|Top
Produto chegou antes do prazo, muito bem embalado.|Tudo certo, chegou conforme o anúncio.
Recomendo a loja, entrega rápida e produto de ótima qualidade.|Muito bom, comprarei novamente.
Ótimo produto, superou minhas expectativas!|Adorei, minha filha amou o presente.
Entrega dentro do prazo e produto igual ao da foto.|bom custo beneficio recomendo
Chegou rápido. Material de qualidade, acabamento perfeito.
Vendedor atencioso, respondeu todas as dúvidas.""",
    "fair": """Bom|Regular|Razoável|Poderia ser melhor
Produto bom, mas a entrega demorou um pouco.|Razoável. Esperava mais pelo preço.
O produto é bom, porém a embalagem veio amassada.|A cor é diferente da foto, mas serve.
Chegou certo, mas faltou o manual em português.""",
    "bad": """Não recebi|Péssimo|Produto com defeito|Decepcionado|Não recomendo
Ainda não recebi o produto e o prazo já passou.|Produto veio com defeito, quero a troca.
Comprei duas unidades, recebi apenas uma.|Paguei o frete, esperei 30 dias, e nada.
Péssimo atendimento, ninguém responde meus e-mails.|nao recebi o produto ate agora
O produto não corresponde ao anunciado: cor errada, tamanho menor.
Veio quebrado, embalagem frágil. Decepcionado.""",
}
_TITLES = {mood: text.split("\n", 1)[0].split("|") for mood, text in _TEXTS.items()}
_SENTENCES = {
    mood: text.split("\n", 1)[1].replace("\n", "|").split("|") for mood, text in _TEXTS.items()
}


def review_score(rng: random.Random, situation: str) -> int:
    """A score 1..5 for an order delivered ``on_time``, ``late`` or ``undelivered``."""
    return _SCORES[situation].draw(rng)


def pii_sentence(rng: random.Random, email: str, cpf_value: str, phone_value: str) -> str:
    """A sentence in which the customer gives away an e-mail, CPF or phone number."""
    choice = rng.randrange(3)
    if choice == 0:
        return f"Por favor me respondam pelo e-mail {email}, obrigado."
    if choice == 1:
        return f"A nota fiscal saiu sem o meu CPF {cpf_value}, preciso da correção."
    return f"Me liguem no {phone_value} para combinar a troca."


def review_text(rng: random.Random, score: int, pii: str | None = None) -> tuple[str, str]:
    """(title, message): often both empty; messages of one or two sentences, sometimes on two
    lines; ``pii`` (a sentence with personal data) always makes it into the message."""
    mood = "good" if score >= 4 else "fair" if score == 3 else "bad"
    title = rng.choice(_TITLES[mood]) if rng.random() < 0.12 else ""
    if pii is None and rng.random() >= _MESSAGE_SHARE[score]:
        return title, ""
    sentences = rng.sample(_SENTENCES[mood], 2 if rng.random() < 0.3 else 1)
    if pii is not None:
        sentences.insert(rng.randrange(len(sentences) + 1), pii)
    return title, ("\n" if rng.random() < 0.25 else " ").join(sentences)

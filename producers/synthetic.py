"""The synthetic Olist generator: the nine Olist CSV files with their published names, headers
and formats (DESIGN.md section 3), the customers' optional direct identifiers included, and a
``manifest.json`` of true totals that later stages are checked against.

One (orders, seed) gives byte-identical files: ids come from a seeded ``random.Random``, names
and e-mails from ``Faker("pt_BR")`` seeded alike. UTF-8, LF, a header row, minimal quoting.
``bad_rows`` plants malformed rows in the orders, items and payments files from a random
stream of their own (the good rows stay the same); the manifest lists them and counts none.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from faker import Faker

from lakehouse.registry import OLIST_ENTITIES
from producers import synthetic_model as sm
from producers import synthetic_reference as ref

_FILES = {e.entity: e.file_name for e in OLIST_ENTITIES}
ORDERS, ITEMS, PAYMENTS = _FILES["orders"], _FILES["order_items"], _FILES["order_payments"]
REVIEWS, CUSTOMERS, PRODUCTS = _FILES["order_reviews"], _FILES["customers"], _FILES["products"]
SELLERS, GEOLOCATION = _FILES["sellers"], _FILES["geolocation"]
CATEGORIES = _FILES["category_translation"]
MANIFEST = "manifest.json"

# Published column order per file; the customer file ends with the optional identifiers.
_HEADER_TEXT = f"""
{ORDERS} order_id customer_id order_status order_purchase_timestamp order_approved_at
  order_delivered_carrier_date order_delivered_customer_date order_estimated_delivery_date
{ITEMS} order_id order_item_id product_id seller_id shipping_limit_date price freight_value
{PAYMENTS} order_id payment_sequential payment_type payment_installments payment_value
{REVIEWS} review_id order_id review_score review_comment_title review_comment_message
  review_creation_date review_answer_timestamp
{CUSTOMERS} customer_id customer_unique_id customer_zip_code_prefix customer_city customer_state
  customer_name customer_email customer_cpf customer_phone customer_birth_date
{PRODUCTS} product_id product_category_name product_name_lenght product_description_lenght
  product_photos_qty product_weight_g product_length_cm product_height_cm product_width_cm
{SELLERS} seller_id seller_zip_code_prefix seller_city seller_state
{CATEGORIES} product_category_name product_category_name_english
{GEOLOCATION} geolocation_zip_code_prefix geolocation_lat geolocation_lng geolocation_city
  geolocation_state
"""


HEADERS: dict[str, tuple[str, ...]] = {
    line.split()[0]: tuple(line.split()[1:])
    for line in _HEADER_TEXT.replace("\n  ", " ").strip().splitlines()
}
CUSTOMER_PII_COLUMNS = HEADERS[CUSTOMERS][5:]
# Files that receive planted bad rows, with the kinds each can hold and its numeric column.
BAD_ROW_KINDS: dict[str, tuple[str, ...]] = {
    ORDERS: ("wrong_column_count", "empty_key"),
    ITEMS: ("wrong_column_count", "empty_key", "non_numeric"),
    PAYMENTS: ("wrong_column_count", "empty_key", "non_numeric"),
}
_NUMERIC_COLUMN = {ITEMS: "price", PAYMENTS: "payment_value"}
_NOT_NUMBERS = ("R$ 45,90", "12,50", "n/a", "abc", "1.2.3", "--")

DAY = sm.DAY
REPEAT_BUYER_SHARE = 0.033  # orders placed by someone who bought before
PII_REVIEW_SHARE = 0.02  # reviews whose text gives away the customer's e-mail, CPF or phone


def money(cents: int) -> str:
    """Cents as a decimal string with two places: 7590 -> ``"75.90"``."""
    return str(Decimal(cents).scaleb(-2))


def _ts(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat(" ")


@dataclass(frozen=True)
class BadRow:
    """A planted malformed row: file name, 1-based physical line, kind."""

    file: str
    line: int
    kind: str


@dataclass
class Manifest:
    """What ``generate`` wrote: good-row counts per file and totals computed from good rows.
    Money is a string with two decimals; GMV is the sum of item prices of every order."""

    seed: int
    orders: int
    rows: dict[str, int]
    orders_by_status: dict[str, int]
    items: int
    gmv: str
    gmv_by_state: dict[str, str]
    freight: str
    payment_value: str
    payments_by_type: dict[str, int]
    payment_value_by_type: dict[str, str]
    reviews: int
    review_scores: dict[str, int]
    review_score_avg: str
    unique_customers: int
    late_deliveries: int
    pii_reviews: int
    first_purchase: str
    last_purchase: str
    bad_rows: list[BadRow] = field(default_factory=list)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read a manifest file, or the ``manifest.json`` of a generated folder."""
        path = Path(path)
        data = json.loads((path / MANIFEST if path.is_dir() else path).read_text("utf-8"))
        data["bad_rows"] = [BadRow(**row) for row in data.get("bad_rows", [])]
        return cls(**data)

    def summary(self) -> str:
        return (
            f"seed {self.seed}: {self.orders} orders, {self.items} items, "
            f"{self.rows[PAYMENTS]} payments, {self.reviews} reviews, GMV R$ {self.gmv}, "
            f"{self.unique_customers} customers, {len(self.bad_rows)} bad rows"
        )


@dataclass(frozen=True)
class _Person:
    unique_id: str
    city: ref.City
    zip_prefix: str
    pii: tuple[str, ...]  # name, e-mail, CPF, phone, birth date


@dataclass(frozen=True)
class _Product:
    product_id: str
    seller: int
    price: int
    weight_g: int


def _cover_then_skew(rng: random.Random, population: int, draws: int) -> list[int]:
    """``draws`` indices below ``population``: each once (while draws last), the rest skewed
    towards low indices (a few best sellers), in random order."""
    picks = list(range(population))
    rng.shuffle(picks)
    picks = picks[:draws] + [int(population * rng.random() ** 2) for _ in range(draws - population)]
    rng.shuffle(picks)
    return picks


def _cities(share: str) -> sm.Weighted[ref.City]:
    """Every city, weighted by its state's ``share`` (customer or seller) and its own weight."""
    pairs = [
        (city, getattr(state, share) * city.weight / sum(c.weight for c in state.cities))
        for state in ref.STATES
        for city in state.cities
    ]
    return sm.Weighted([c for c, _ in pairs], [w for _, w in pairs])


class _Generator:
    """One run: the seeded random streams, the open CSV writers and the running totals."""

    def __init__(self, seed: int, writers: dict[str, Any]) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("pt_BR")
        self.fake.seed_instance(seed)
        self.writers = writers
        self.rows: Counter[str] = Counter({name: 0 for name in HEADERS})
        self.status: Counter[str] = Counter()
        self.cents: Counter[str] = Counter()  # gmv and freight
        self.gmv_by_state: Counter[str] = Counter()  # of the customer
        self.payments: Counter[str] = Counter()
        self.paid: Counter[str] = Counter()
        self.scores: Counter[int] = Counter()
        self.late = self.pii_reviews = 0
        self.zips: dict[str, ref.City] = {}
        self.people: list[_Person] = []
        self.last_review_id = ""

    def write(self, name: str, row: Sequence[object]) -> None:
        self.writers[name].writerow(row)
        self.rows[name] += 1

    def zip_prefix(self, city: ref.City) -> str:
        zip_prefix = f"{city.zip_start + self.rng.randrange(city.zip_span):05d}"
        self.zips.setdefault(zip_prefix, city)
        return zip_prefix

    def catalogue(self, orders: int) -> None:
        """Categories, sellers (orders/32, at least 5) and products (orders/3), each seller
        with at least one product."""
        rng = self.rng
        for pt, en, _ in ref.CATEGORIES:
            self.write(CATEGORIES, (pt, en))
        cities = _cities("seller_weight")
        self.seller_ids = [sm.new_id(rng) for _ in range(max(5, orders // 32))]
        for seller_id in self.seller_ids:
            city = cities.draw(rng)
            self.write(SELLERS, (seller_id, self.zip_prefix(city), city.name, city.state))
        categories = sm.Weighted([c[0] for c in ref.CATEGORIES], [c[2] for c in ref.CATEGORIES])
        self.products = []
        sellers = len(self.seller_ids)
        for owner in _cover_then_skew(rng, sellers, max(round(orders / 3), sellers)):
            category = "" if rng.random() < sm.UNCATEGORISED_SHARE else categories.draw(rng)
            columns, weight = sm.product_columns(rng, category)
            product = _Product(sm.new_id(rng), owner, sm.product_price(rng, category), weight)
            self.products.append(product)
            self.write(PRODUCTS, (product.product_id, *columns))

    def person(self, cities: sm.Weighted[ref.City]) -> _Person:
        """A repeat buyer now and then, else someone new."""
        rng, fake = self.rng, self.fake
        if self.people and rng.random() < REPEAT_BUYER_SHARE:
            return self.people[rng.randrange(len(self.people))]
        city = cities.draw(rng)
        name = f"{fake.first_name()} {fake.last_name()}"
        if rng.random() < 0.4:
            name += f" {fake.last_name()}"
        pii = (name, fake.email(), sm.cpf(rng), sm.phone(rng, city.ddd), sm.birth_date(rng))
        self.people.append(_Person(sm.new_id(rng), city, self.zip_prefix(city), pii))
        return self.people[-1]

    def orders(self, count: int) -> list[datetime]:
        """Every order with its customer, items, payments and reviews; the purchase times."""
        rng = self.rng
        # Per order, per item: a fresh product pick (True) or the previous item's product.
        plan = [
            [True] + [rng.random() < 0.5 for _ in range(sm.ITEM_COUNTS.draw(rng) - 1)]
            for _ in range(count)
        ]
        picks = iter(_cover_then_skew(rng, len(self.products), sum(map(sum, plan))))
        cities = _cities("customer_weight")
        purchases = sm.purchase_times(rng, count)
        for purchase, fresh_flags in zip(purchases, plan, strict=True):
            order_id, customer_id = sm.new_id(rng), sm.new_id(rng)
            person = self.person(cities)
            city = person.city
            address = (person.zip_prefix, city.name, city.state)
            self.write(CUSTOMERS, (customer_id, person.unique_id, *address, *person.pii))
            status = sm.STATUSES.draw(rng)
            kind = sm.PAYMENT_TYPES.draw(rng)
            items: list[tuple[_Product, int]] = []
            for fresh in fresh_flags:
                product = self.products[next(picks)] if fresh else items[-1][0]
                items.append((product, sm.freight(rng, product.weight_g)))
            line = sm.timeline(rng, purchase, status, kind == "boleto")
            moments = (purchase, line.approved, line.carrier, line.delivered, line.estimated)
            self.write(ORDERS, (order_id, customer_id, status, *map(_ts, moments)))
            self.status[status] += 1
            self.late += line.late
            limit = (line.approved or purchase) + timedelta(seconds=rng.randint(2 * DAY, 7 * DAY))
            for number, (product, freight) in enumerate(items, 1):
                ids = (order_id, number, product.product_id, self.seller_ids[product.seller])
                self.write(ITEMS, (*ids, _ts(limit), money(product.price), money(freight)))
                self.cents["gmv"] += product.price
                self.gmv_by_state[city.state] += product.price
                self.cents["freight"] += freight
            bill = sum(product.price + freight for product, freight in items)
            for number, (ptype, installments, cents) in enumerate(
                sm.payment_plan(rng, kind, bill), 1
            ):
                self.write(PAYMENTS, (order_id, number, ptype, installments, money(cents)))
                self.payments[ptype] += 1
                self.paid[ptype] += cents
            self.reviews(order_id, person, line)
        return purchases

    def reviews(self, order_id: str, person: _Person, line: sm.Timeline) -> None:
        """Usually one review, sometimes none or two; a survey id is now and then shared with
        the previous order's, as in Olist (the key is review_id + order_id)."""
        rng = self.rng
        draw = rng.random()
        count = 0 if draw < 0.008 else 2 if draw > 0.995 else 1
        situation = "undelivered" if line.delivered is None else "late" if line.late else "on_time"
        base = line.delivered or line.estimated - timedelta(days=rng.randint(0, 5))
        day = datetime.combine(base.date(), datetime.min.time())
        for index in range(count):
            reuse = index == 0 and self.last_review_id and rng.random() < 0.005
            review_id = self.last_review_id if reuse else sm.new_id(rng)
            score = sm.review_score(rng, situation)
            pii = None
            if rng.random() < PII_REVIEW_SHARE:
                pii = sm.pii_sentence(rng, *person.pii[1:4])
            title, message = sm.review_text(rng, score, pii)
            day += timedelta(days=1 if index == 0 else rng.randint(1, 10))
            answer = day + timedelta(seconds=rng.randint(3600, 5 * DAY))
            self.write(REVIEWS, (review_id, order_id, score, title, message, _ts(day), _ts(answer)))
            self.scores[score] += 1
            self.pii_reviews += pii is not None
            self.last_review_id = review_id

    def geolocation(self) -> None:
        """A few points per zip prefix in use, scattered around its city's centre."""
        seen: set[tuple[str, str, str]] = set()
        for zip_prefix, city in sorted(self.zips.items()):
            spread = 0.05 if city.zip_span >= 900 else 0.02
            for _ in range(self.rng.randint(1, 4)):
                lat = repr(round(self.rng.gauss(city.lat, spread), 14))
                lng = repr(round(self.rng.gauss(city.lng, spread), 14))
                if (zip_prefix, lat, lng) not in seen:
                    seen.add((zip_prefix, lat, lng))
                    self.write(GEOLOCATION, (zip_prefix, lat, lng, city.name, city.state))

    def manifest(self, seed: int, purchases: list[datetime], planted: list[BadRow]) -> Manifest:
        reviews = sum(self.scores.values())
        average = Decimal(sum(s * n for s, n in self.scores.items())) / max(reviews, 1)
        cents = self.cents
        return Manifest(
            seed=seed,
            orders=len(purchases),
            rows=dict(self.rows),
            orders_by_status=dict(sorted(self.status.items())),
            items=self.rows[ITEMS],
            gmv=money(cents["gmv"]),
            gmv_by_state={uf: money(c) for uf, c in sorted(self.gmv_by_state.items())},
            freight=money(cents["freight"]),
            payment_value=money(sum(self.paid.values())),
            payments_by_type=dict(sorted(self.payments.items())),
            payment_value_by_type={t: money(c) for t, c in sorted(self.paid.items())},
            reviews=reviews,
            review_scores={str(s): self.scores[s] for s in range(1, 6)},
            review_score_avg=str(average.quantize(Decimal("0.0001"))),
            unique_customers=len(self.people),
            late_deliveries=self.late,
            pii_reviews=self.pii_reviews,
            first_purchase=_ts(purchases[0]),
            last_purchase=_ts(purchases[-1]),
            bad_rows=planted,
        )


def generate(out_dir: Path, orders: int, seed: int, *, bad_rows: int = 0) -> Manifest:
    """Write the nine Olist files and ``manifest.json`` for ``orders`` orders into ``out_dir``
    (created if missing, files overwritten) and return the manifest."""
    if orders < 1 or bad_rows < 0:
        raise ValueError("orders must be at least 1 and bad_rows at least 0")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        writers = {}
        for name, header in HEADERS.items():
            handle = stack.enter_context((out_dir / name).open("w", newline="", encoding="utf-8"))
            writers[name] = csv.writer(handle, lineterminator="\n")
            writers[name].writerow(header)
        run = _Generator(seed, writers)
        run.catalogue(orders)
        purchases = run.orders(orders)
        run.geolocation()
    manifest = run.manifest(seed, purchases, _plant_bad_rows(out_dir, bad_rows, seed))
    manifest.save(out_dir / MANIFEST)
    return manifest


def _bad_line(rng: random.Random, name: str, kind: str, good_line: str) -> str:
    """A malformed copy of a good row (with a fresh order id, so it matches no good key)."""
    fields = next(csv.reader([good_line]))
    fields[0] = "" if kind == "empty_key" else sm.new_id(rng)
    if kind == "non_numeric":
        fields[HEADERS[name].index(_NUMERIC_COLUMN[name])] = rng.choice(_NOT_NUMBERS)
    if kind == "wrong_column_count":
        fields = fields[:-1] if rng.random() < 0.5 else [*fields, rng.choice(("x", "0", ""))]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()


def _plant_bad_rows(out_dir: Path, count: int, seed: int) -> list[BadRow]:
    """Insert ``count`` bad rows, spread round-robin over the orders, items and payments files
    (whose good rows are one physical line each), at random places."""
    rng = random.Random(f"lakehouse.synthetic.bad_rows/{seed}")
    names = list(BAD_ROW_KINDS)
    per_file = Counter(names[i % len(names)] for i in range(count))
    planted: list[BadRow] = []
    for name in names:
        if not per_file[name]:
            continue
        kinds = BAD_ROW_KINDS[name]
        chosen = [kinds[i % len(kinds)] for i in range(per_file[name])]
        rng.shuffle(chosen)
        path = out_dir / name
        with path.open(newline="", encoding="utf-8") as handle:
            header, *body = handle.readlines()
        spots = sorted(rng.randrange(len(body) + 1) for _ in chosen)
        lines, done = [header], 0
        for spot, kind in zip(spots, chosen, strict=True):
            lines += body[done:spot]
            done = spot
            planted.append(BadRow(name, len(lines) + 1, kind))
            lines.append(_bad_line(rng, name, kind, body[min(spot, len(body) - 1)]))
        lines += body[done:]
        with path.open("w", newline="", encoding="utf-8") as handle:
            handle.writelines(lines)
    return planted


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m producers.synthetic --out DIR --orders N --seed S --bad-rows K``."""
    parser = argparse.ArgumentParser(prog="python -m producers.synthetic", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--orders", type=int, default=2_000, help="number of orders")
    parser.add_argument("--seed", type=int, default=42, help="random seed")
    parser.add_argument("--bad-rows", type=int, default=0, help="malformed rows to plant")
    args = parser.parse_args(argv)
    if args.orders < 1 or args.bad_rows < 0:
        parser.error("--orders must be at least 1 and --bad-rows at least 0")
    started = time.perf_counter()
    manifest = generate(args.out, args.orders, args.seed, bad_rows=args.bad_rows)
    print(f"{manifest.summary()}; wrote {args.out} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

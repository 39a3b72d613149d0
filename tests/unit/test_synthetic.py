"""The synthetic Olist generator: published headers and formats, determinism, the manifest's
counts and totals recomputed from the files, referential integrity, personal data and the
planted bad rows."""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from collections.abc import Container, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path

import pytest

from producers import synthetic_model as sm
from producers import synthetic_reference as ref
from producers.synthetic import (
    CATEGORIES,
    CUSTOMERS,
    GEOLOCATION,
    ITEMS,
    ORDERS,
    PAYMENTS,
    PRODUCTS,
    REVIEWS,
    SELLERS,
    BadRow,
    Manifest,
    generate,
    main,
)
from security.masking import is_valid_cpf, normalise_phone, redact_text

# DESIGN.md section 3, column for column.
DESIGN_HEADERS = {
    ORDERS: "order_id, customer_id, order_status, order_purchase_timestamp, order_approved_at, "
    "order_delivered_carrier_date, order_delivered_customer_date, order_estimated_delivery_date",
    ITEMS: "order_id, order_item_id, product_id, seller_id, shipping_limit_date, price, "
    "freight_value",
    PAYMENTS: "order_id, payment_sequential, payment_type, payment_installments, payment_value",
    REVIEWS: "review_id, order_id, review_score, review_comment_title, review_comment_message, "
    "review_creation_date, review_answer_timestamp",
    CUSTOMERS: "customer_id, customer_unique_id, customer_zip_code_prefix, customer_city, "
    "customer_state, customer_name, customer_email, customer_cpf, customer_phone, "
    "customer_birth_date",
    PRODUCTS: "product_id, product_category_name, product_name_lenght, "
    "product_description_lenght, product_photos_qty, product_weight_g, product_length_cm, "
    "product_height_cm, product_width_cm",
    SELLERS: "seller_id, seller_zip_code_prefix, seller_city, seller_state",
    CATEGORIES: "product_category_name, product_category_name_english",
    GEOLOCATION: "geolocation_zip_code_prefix, geolocation_lat, geolocation_lng, "
    "geolocation_city, geolocation_state",
}
NATURAL_KEYS = {
    ORDERS: ("order_id",),
    ITEMS: ("order_id", "order_item_id"),
    PAYMENTS: ("order_id", "payment_sequential"),
    REVIEWS: ("review_id", "order_id"),
    CUSTOMERS: ("customer_id",),
    PRODUCTS: ("product_id",),
    SELLERS: ("seller_id",),
    CATEGORIES: ("product_category_name",),
    GEOLOCATION: ("geolocation_zip_code_prefix", "geolocation_lat", "geolocation_lng"),
}
UFS = {"AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA"}
UFS |= {"PB", "PR", "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO"}
ID_COLUMNS = ("order_id", "customer_id", "customer_unique_id", "product_id", "seller_id")
ID = re.compile(r"[0-9a-f]{32}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
MONEY = re.compile(r"\d+\.\d{2}")
TIMESTAMPS = {
    ORDERS: DESIGN_HEADERS[ORDERS].split(", ")[3:],
    ITEMS: ["shipping_limit_date"],
    REVIEWS: ["review_creation_date", "review_answer_timestamp"],
}
SEED = 2024
SIZE = 300


def _cents(text: str) -> int:
    return int(Decimal(text) * 100)


def read(folder: Path, name: str, skip: Container[int] = ()) -> list[dict[str, str]]:
    """Rows of one file as dicts, leaving out the records that start on a ``skip`` line."""
    rows = []
    with (folder / name).open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        line = reader.line_num
        for fields in reader:
            start, line = line + 1, reader.line_num
            if start not in skip:
                rows.append(dict(zip(header, fields, strict=True)))
    return rows


def read_all(folder: Path, bad: Sequence[BadRow] = ()) -> dict[str, list[dict[str, str]]]:
    skip: dict[str, set[int]] = defaultdict(set)
    for row in bad:
        skip[row.file].add(row.line)
    return {name: read(folder, name, skip[name]) for name in DESIGN_HEADERS}


def recomputed(data: dict[str, list[dict[str, str]]]) -> dict[str, object]:
    """The manifest's totals, computed again from the files (money with Decimal, GMV per state
    through items -> orders -> customers; items and payments are never joined)."""
    state_of_customer = {c["customer_id"]: c["customer_state"] for c in data[CUSTOMERS]}
    orders = data[ORDERS]
    state_of_order = {o["order_id"]: state_of_customer[o["customer_id"]] for o in orders}
    gmv_by_state: dict[str, Decimal] = defaultdict(Decimal)
    for item in data[ITEMS]:
        gmv_by_state[state_of_order[item["order_id"]]] += Decimal(item["price"])
    payments_by_type = Counter(p["payment_type"] for p in data[PAYMENTS])
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for payment in data[PAYMENTS]:
        paid[payment["payment_type"]] += Decimal(payment["payment_value"])
    scores = Counter(int(r["review_score"]) for r in data[REVIEWS])
    average = Decimal(sum(s * n for s, n in scores.items())) / sum(scores.values())
    delivered = [o for o in orders if o["order_status"] == "delivered"]
    purchases = sorted(o["order_purchase_timestamp"] for o in orders)
    return {
        "orders": len(orders),
        "rows": {name: len(rows) for name, rows in data.items()},
        "orders_by_status": dict(sorted(Counter(o["order_status"] for o in orders).items())),
        "items": len(data[ITEMS]),
        "gmv": str(sum((Decimal(i["price"]) for i in data[ITEMS]), Decimal("0.00"))),
        "gmv_by_state": {uf: str(v) for uf, v in sorted(gmv_by_state.items())},
        "freight": str(sum((Decimal(i["freight_value"]) for i in data[ITEMS]), Decimal("0.00"))),
        "payment_value": str(sum(paid.values(), Decimal("0.00"))),
        "payments_by_type": dict(sorted(payments_by_type.items())),
        "payment_value_by_type": {t: str(v) for t, v in sorted(paid.items())},
        "reviews": len(data[REVIEWS]),
        "review_scores": {str(s): scores[s] for s in range(1, 6)},
        "review_score_avg": str(average.quantize(Decimal("0.0001"))),
        "unique_customers": len({c["customer_unique_id"] for c in data[CUSTOMERS]}),
        "late_deliveries": sum(
            o["order_delivered_customer_date"] > o["order_estimated_delivery_date"]
            for o in delivered
        ),
        "first_purchase": purchases[0],
        "last_purchase": purchases[-1],
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    folder = tmp_path_factory.mktemp("synthetic")
    return folder, generate(folder, SIZE, SEED)


@pytest.fixture(scope="module")
def data(dataset: tuple[Path, Manifest]) -> dict[str, list[dict[str, str]]]:
    return read_all(dataset[0])


# --- determinism -------------------------------------------------------------------------------


def _contents(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    generate(tmp_path / "a", 120, 7, bad_rows=3)
    generate(tmp_path / "b", 120, 7, bad_rows=3)
    first = _contents(tmp_path / "a")
    assert set(first) == {*DESIGN_HEADERS, "manifest.json"}
    assert first == _contents(tmp_path / "b")


def test_another_seed_gives_other_files(tmp_path: Path) -> None:
    generate(tmp_path / "a", 120, 7)
    generate(tmp_path / "b", 120, 8)
    first, second = _contents(tmp_path / "a"), _contents(tmp_path / "b")
    assert first[CATEGORIES] == second[CATEGORIES]  # reference data
    for name in (ORDERS, ITEMS, PAYMENTS, REVIEWS, CUSTOMERS, PRODUCTS, SELLERS, GEOLOCATION):
        assert first[name] != second[name], name


def test_good_rows_do_not_depend_on_bad_rows(tmp_path: Path) -> None:
    clean = generate(tmp_path / "clean", 150, 3)
    dirty = generate(tmp_path / "dirty", 150, 3, bad_rows=5)
    assert read_all(tmp_path / "clean") == read_all(tmp_path / "dirty", dirty.bad_rows)
    assert {**vars(clean), "bad_rows": []} == {**vars(dirty), "bad_rows": []}


# --- published format --------------------------------------------------------------------------


def test_headers_are_the_published_ones_then_the_optional_identifiers(
    dataset: tuple[Path, Manifest],
) -> None:
    for name, columns in DESIGN_HEADERS.items():
        first_line = (dataset[0] / name).read_bytes().split(b"\n", 1)[0].decode("utf-8")
        assert first_line == columns.replace(", ", ","), name
    customer = DESIGN_HEADERS[CUSTOMERS].split(", ")
    assert customer[5:] == [
        "customer_name",
        "customer_email",
        "customer_cpf",
        "customer_phone",
        "customer_birth_date",
    ]


def test_files_are_utf8_lf_without_bom(dataset: tuple[Path, Manifest]) -> None:
    for name in DESIGN_HEADERS:
        raw = (dataset[0] / name).read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf") and b"\r" not in raw, name
        assert raw.endswith(b"\n")
        raw.decode("utf-8")
    accents = (dataset[0] / REVIEWS).read_text("utf-8") + (dataset[0] / CUSTOMERS).read_text()
    assert re.search("[ãçéíóúâêô]", accents)


def test_field_formats(data: dict[str, list[dict[str, str]]]) -> None:
    for name, columns in TIMESTAMPS.items():
        for row in data[name]:
            for column in columns:
                assert row[column] == "" or TIMESTAMP.fullmatch(row[column]), (name, row)
    for name, rows in data.items():
        for row in rows:
            for column in (c for c in (*ID_COLUMNS, "review_id") if c in row):
                assert ID.fullmatch(row[column]), (name, column, row[column])
    for item in data[ITEMS]:
        assert MONEY.fullmatch(item["price"]) and MONEY.fullmatch(item["freight_value"])
        assert Decimal("0.85") <= Decimal(item["price"]) <= Decimal("6735")
    assert all(MONEY.fullmatch(p["payment_value"]) for p in data[PAYMENTS])
    assert all(o["order_estimated_delivery_date"].endswith("00:00:00") for o in data[ORDERS])
    lenghts = [p["product_name_lenght"] for p in data[PRODUCTS]]
    assert all(v == "" or v.isdigit() for v in lenghts)


def test_natural_keys_are_unique(data: dict[str, list[dict[str, str]]]) -> None:
    for name, keys in NATURAL_KEYS.items():
        found = Counter(tuple(row[k] for k in keys) for row in data[name])
        assert max(found.values()) == 1, name


def test_zip_prefixes_are_five_character_strings(data: dict[str, list[dict[str, str]]]) -> None:
    zips = [c["customer_zip_code_prefix"] for c in data[CUSTOMERS]]
    zips += [s["seller_zip_code_prefix"] for s in data[SELLERS]]
    zips += [g["geolocation_zip_code_prefix"] for g in data[GEOLOCATION]]
    assert all(len(z) == 5 and z.isdigit() for z in zips)
    assert any(z.startswith("0") for z in zips)
    used = {c["customer_zip_code_prefix"] for c in data[CUSTOMERS]}
    assert used <= {g["geolocation_zip_code_prefix"] for g in data[GEOLOCATION]}


def test_empty_timestamps_where_the_status_has_not_got_there(
    data: dict[str, list[dict[str, str]]],
) -> None:
    orders = data[ORDERS]
    delivered = [o for o in orders if o["order_status"] == "delivered"]
    others = [o for o in orders if o["order_status"] != "delivered"]
    assert delivered and others
    assert all(all(o.values()) for o in delivered)
    assert all(o["order_delivered_customer_date"] == "" for o in others)
    for order in orders:
        moments = [order[c] for c in TIMESTAMPS[ORDERS][:4] if order[c]]
        assert moments == sorted(moments), order  # purchase <= approved <= carrier <= delivered
        purchase = datetime.fromisoformat(order["order_purchase_timestamp"])
        estimated = datetime.fromisoformat(order["order_estimated_delivery_date"])
        assert timedelta(days=6) < estimated - purchase <= timedelta(days=43)
        assert sm.START <= purchase <= sm.END


# --- manifest ------------------------------------------------------------------------------------


def test_files_read_back_give_the_manifest(
    dataset: tuple[Path, Manifest], data: dict[str, list[dict[str, str]]]
) -> None:
    manifest = dataset[1]
    expected = recomputed(data)
    assert {key: getattr(manifest, key) for key in expected} == expected
    assert manifest.seed == SEED and manifest.orders == SIZE and manifest.bad_rows == []
    assert manifest.rows[CUSTOMERS] == SIZE  # one customer_id per order


def test_manifest_is_saved_and_loads_back(dataset: tuple[Path, Manifest]) -> None:
    folder, manifest = dataset
    assert Manifest.load(folder) == manifest
    assert Manifest.load(folder / "manifest.json") == manifest
    assert all(re.fullmatch(r"\d+\.\d{2}", v) for v in manifest.gmv_by_state.values())


# --- relations -----------------------------------------------------------------------------------


def test_referential_integrity(data: dict[str, list[dict[str, str]]]) -> None:
    order_ids = {o["order_id"] for o in data[ORDERS]}
    customer_ids = [c["customer_id"] for c in data[CUSTOMERS]]
    assert sorted(customer_ids) == sorted(o["customer_id"] for o in data[ORDERS])
    products = {p["product_id"]: p for p in data[PRODUCTS]}
    sellers = {s["seller_id"] for s in data[SELLERS]}
    for item in data[ITEMS]:
        assert item["order_id"] in order_ids
        assert item["product_id"] in products and item["seller_id"] in sellers
    assert {i["order_id"] for i in data[ITEMS]} == order_ids  # every order has items
    assert {p["order_id"] for p in data[PAYMENTS]} == order_ids
    assert {r["order_id"] for r in data[REVIEWS]} <= order_ids
    assert {i["product_id"] for i in data[ITEMS]} == set(products)  # only products sold
    assert {i["seller_id"] for i in data[ITEMS]} == sellers
    translated = {c["product_category_name"] for c in data[CATEGORIES]}
    assert {p["product_category_name"] for p in products.values()} - {""} <= translated


def test_payments_per_order_equal_price_plus_freight(data: dict[str, list[dict[str, str]]]) -> None:
    owed: Counter[str] = Counter()
    for item in data[ITEMS]:
        owed[item["order_id"]] += _cents(item["price"]) + _cents(item["freight_value"])
    paid: Counter[str] = Counter()
    sequences: dict[str, list[int]] = defaultdict(list)
    for payment in data[PAYMENTS]:
        assert _cents(payment["payment_value"]) > 0
        paid[payment["order_id"]] += _cents(payment["payment_value"])
        sequences[payment["order_id"]].append(int(payment["payment_sequential"]))
    assert paid == owed
    assert all(seq == list(range(1, len(seq) + 1)) for seq in sequences.values())


def test_repeat_buyers_keep_their_identity(data: dict[str, list[dict[str, str]]]) -> None:
    people = defaultdict(set)
    for customer in data[CUSTOMERS]:
        people[customer["customer_unique_id"]].add(tuple(list(customer.values())[2:]))
    assert any(len(v) == 1 for v in people.values())
    assert all(len(v) == 1 for v in people.values())  # same address and identifiers
    assert len(people) < len(data[CUSTOMERS])


# --- personal data -------------------------------------------------------------------------------


def test_customer_identifiers_look_real(data: dict[str, list[dict[str, str]]]) -> None:
    customers = data[CUSTOMERS]
    cpfs = [c["customer_cpf"] for c in customers]
    assert all(is_valid_cpf(cpf) for cpf in cpfs)
    assert any("." in cpf for cpf in cpfs) and any(cpf.isdigit() for cpf in cpfs)
    for customer in customers:
        assert len(normalise_phone(customer["customer_phone"]) or "") in (10, 11)
        assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", customer["customer_email"])
        assert len(customer["customer_name"].split()) >= 2
        born = datetime.strptime(customer["customer_birth_date"], "%Y-%m-%d")
        assert 1945 <= born.year <= 2000
        assert customer["customer_state"] in UFS


def test_review_texts_quote_commas_and_newlines(
    dataset: tuple[Path, Manifest], data: dict[str, list[dict[str, str]]]
) -> None:
    messages = [r["review_comment_message"] for r in data[REVIEWS]]
    assert any("\n" in m for m in messages) and any("," in m for m in messages)
    assert "" in messages and any(r["review_comment_title"] for r in data[REVIEWS])
    raw = (dataset[0] / REVIEWS).read_text("utf-8")
    physical = raw.count("\n") - 1
    assert physical > len(messages)  # embedded newlines span physical lines


def test_some_reviews_give_away_the_customers_data_and_redaction_removes_it(
    dataset: tuple[Path, Manifest], data: dict[str, list[dict[str, str]]]
) -> None:
    customer_of = {o["order_id"]: o["customer_id"] for o in data[ORDERS]}
    customers = {c["customer_id"]: c for c in data[CUSTOMERS]}
    leaks = 0
    for review in data[REVIEWS]:
        customer = customers[customer_of[review["order_id"]]]
        secrets = [customer[k] for k in ("customer_email", "customer_cpf", "customer_phone")]
        if any(s in review["review_comment_message"] for s in secrets):
            leaks += 1
            redacted = redact_text(review["review_comment_message"]) or ""
            assert not any(s in redacted for s in secrets), redacted
    assert leaks == dataset[1].pii_reviews > 0


# --- planted bad rows ----------------------------------------------------------------------------


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except InvalidOperation:
        return False


def _problem(name: str, fields: list[str]) -> str | None:
    header = DESIGN_HEADERS[name].split(", ")
    if len(fields) != len(header):
        return "wrong_column_count"
    if not fields[0]:
        return "empty_key"
    row = dict(zip(header, fields, strict=True))
    numbers = {ITEMS: ("price", "freight_value"), PAYMENTS: ("payment_value",)}.get(name, ())
    return "non_numeric" if not all(_is_number(row[c]) for c in numbers) else None


def test_bad_rows_are_planted_where_the_manifest_says(tmp_path: Path) -> None:
    manifest = generate(tmp_path, SIZE, SEED, bad_rows=8)
    assert len(manifest.bad_rows) == 8
    assert Counter(b.file for b in manifest.bad_rows) == {ORDERS: 3, ITEMS: 3, PAYMENTS: 2}
    assert {b.kind for b in manifest.bad_rows} == {"wrong_column_count", "empty_key", "non_numeric"}
    planted = {(b.file, b.line): b.kind for b in manifest.bad_rows}
    for name in (ORDERS, ITEMS, PAYMENTS):
        lines = (tmp_path / name).read_text("utf-8").split("\n")[:-1]
        found = {
            (name, number): problem
            for number, line in enumerate(lines[1:], 2)
            if (problem := _problem(name, next(csv.reader([line]))))
        }
        assert found == {k: v for k, v in planted.items() if k[0] == name}
    assert Manifest.load(tmp_path).bad_rows == manifest.bad_rows
    expected = recomputed(read_all(tmp_path, manifest.bad_rows))
    assert {key: getattr(manifest, key) for key in expected} == expected


# --- shapes, reference data, entry points ------------------------------------------------------


def test_shapes_resemble_olist(tmp_path: Path) -> None:
    manifest = generate(tmp_path, 3000, 99)
    data = read_all(tmp_path)
    states = Counter(c["customer_state"] for c in data[CUSTOMERS])
    assert 0.37 < states["SP"] / 3000 < 0.47 and {s for s, _ in states.most_common(3)} == {
        "SP",
        "RJ",
        "MG",
    }
    assert manifest.orders_by_status["delivered"] / 3000 > 0.94
    items_per_order = Counter(Counter(i["order_id"] for i in data[ITEMS]).values())
    assert 0.86 < items_per_order[1] / 3000 < 0.94 and max(items_per_order) <= 6
    shares = {t: n / manifest.rows[PAYMENTS] for t, n in manifest.payments_by_type.items()}
    assert 0.68 < shares["credit_card"] < 0.8 and 0.15 < shares["boleto"] < 0.23
    assert 0.02 < shares["voucher"] < 0.09 and shares["debit_card"] < 0.04
    prices = sorted(Decimal(i["price"]) for i in data[ITEMS])
    assert 55 < prices[len(prices) // 2] < 100
    assert 0.01 < 1 - manifest.unique_customers / 3000 < 0.06
    assert 0.5 < manifest.review_scores["5"] / manifest.reviews < 0.64
    assert 0.05 < manifest.late_deliveries / manifest.orders_by_status["delivered"] < 0.11
    assert manifest.rows[SELLERS] == 3000 // 32 and manifest.rows[PRODUCTS] == 1000
    years = Counter(o["order_purchase_timestamp"][:4] for o in data[ORDERS])
    assert years["2016"] < years["2017"] < years["2018"] * 1.4


def test_reference_geography() -> None:
    assert {s.uf for s in ref.STATES} == UFS and len(ref.STATES) == 27
    # First zip digit by region: 0-1 SP, 2 RJ/ES, 3 MG, 4 BA/SE, 5 PE/AL/PB/RN, 6 north-east and
    # north, 7 centre-west/TO/RO, 8 PR/SC, 9 RS.
    region = {"SP": "01", "RJ": "2", "ES": "2", "MG": "3", "BA": "4", "SE": "4", "PR": "8"}
    region |= {"SC": "8", "RS": "9", "DF": "7", "GO": "7", "TO": "7", "MT": "7", "MS": "7"}
    region |= {"RO": "7", **dict.fromkeys(["PE", "AL", "PB", "RN"], "5")}
    region |= dict.fromkeys(["CE", "PI", "MA", "PA", "AP", "AM", "RR", "AC"], "6")
    blocks = []
    for state in ref.STATES:
        for city in state.cities:
            assert f"{city.zip_start:05d}"[0] in region[state.uf], city
            assert -34 < city.lat < 6 and -74 < city.lng < -34, city
            blocks.append((city.zip_start, city.zip_start + city.zip_span))
    blocks.sort()
    assert all(a[1] <= b[0] for a, b in pairwise(blocks))  # disjoint
    assert len(ref.CATEGORIES) >= 70 and len({c[0] for c in ref.CATEGORIES}) == len(ref.CATEGORIES)
    assert ("beleza_saude", "health_beauty") in {c[:2] for c in ref.CATEGORIES}


def test_invalid_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, 0, 1)
    with pytest.raises(ValueError):
        generate(tmp_path, 10, 1, bad_rows=-1)


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--out", str(tmp_path), "--orders", "40", "--seed", "5", "--bad-rows", "2"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and "40 orders" in printed and "2 bad rows" in printed
    assert Manifest.load(tmp_path).orders == 40

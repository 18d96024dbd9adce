"""Reading product catalogs from JSON or CSV files (`orderflow seed FILE`).

Rows are validated by pydantic so a bad file is rejected whole, with the row
and field named, before anything is written."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orderflow.domain.model import Product


class ProductRow(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)
    stock: int = Field(ge=0, le=1_000_000_000)

    def to_product(self) -> Product:
        return Product(self.id, self.name, self.description, self.price, self.stock)


class CatalogFileError(ValueError):
    pass


def read_catalog(path: Path) -> list[Product]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        rows: list[Any] = list(csv.DictReader(text.splitlines()))
    else:
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CatalogFileError(f"{path}: not valid JSON: {exc}") from exc
        if not isinstance(rows, list):
            raise CatalogFileError(f"{path}: expected a JSON list of product objects")
    return parse_rows(rows, source=str(path))


def parse_rows(rows: list[Any], *, source: str) -> list[Product]:
    products = []
    for index, row in enumerate(rows):
        try:
            products.append(ProductRow.model_validate(row).to_product())
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise CatalogFileError(f"{source}: row {index + 1}: {problems}") from exc
    return products


def demo_catalog() -> list[Product]:
    text = resources.files("orderflow.entrypoints").joinpath("demo_catalog.json").read_text()
    return parse_rows(json.loads(text), source="demo catalog")

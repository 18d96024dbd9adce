"""Browsing and searching products, straight from the database."""

from __future__ import annotations

from dataclasses import dataclass

from orderflow.domain.errors import ProductNotFound
from orderflow.domain.model import Product
from orderflow.ports.repositories import ProductPage
from orderflow.ports.unit_of_work import UnitOfWorkFactory


@dataclass(frozen=True, kw_only=True, slots=True)
class Catalog:
    uow_factory: UnitOfWorkFactory

    def search(self, *, text: str, limit: int, offset: int) -> ProductPage:
        with self.uow_factory.reading() as uow:
            return uow.products.search(text=text, limit=limit, offset=offset)

    def get(self, product_id: str) -> Product:
        with self.uow_factory.reading() as uow:
            product = uow.products.get(product_id)
        if product is None:
            raise ProductNotFound(product_id)
        return product

    def resolve(self, name_or_id: str) -> Product:
        """The product with this id, else the one with this name (any case)."""
        with self.uow_factory.reading() as uow:
            product = uow.products.get(name_or_id) or uow.products.get_by_name(name_or_id)
        if product is None:
            raise ProductNotFound(name_or_id)
        return product

    def upsert_many(self, products: list[Product]) -> None:
        with self.uow_factory() as uow:
            for product in products:
                uow.products.upsert(product)
            uow.commit()

    def count(self) -> int:
        with self.uow_factory.reading() as uow:
            return uow.products.count()

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from contract_helpers import FIXTURES, Engine
from open_data_contract_standard.model import OpenDataContractStandard


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine(tmp_path)


@pytest.fixture
def load() -> Callable[[str], OpenDataContractStandard]:
    def _load(name: str) -> OpenDataContractStandard:
        return OpenDataContractStandard.from_file(str(FIXTURES / name))

    return _load

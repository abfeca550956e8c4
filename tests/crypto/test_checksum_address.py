"""EIP-55 checksums computed here are those of eth_utils, for every way an address
is given; what is not an address is refused the same way."""

from __future__ import annotations

import random

import pytest
from eth_utils import is_address as eth_is_address
from eth_utils import to_checksum_address

from sealbatch.crypto.eip712 import checksum_address, is_address


def test_checksums_match_eth_utils() -> None:
    rng = random.Random(55)
    for _ in range(500):
        raw = rng.randbytes(20)
        want = to_checksum_address(raw)
        for given in (raw, "0x" + raw.hex(), "0X" + raw.hex().upper(), raw.hex(), want):
            assert checksum_address(given) == want
            assert is_address(given) and eth_is_address(given)
    # The EIP-55 test vectors.
    for vector in (
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ):
        assert checksum_address(vector.lower()) == vector


@pytest.mark.parametrize(
    "bad",
    [
        "0x" + "ab" * 19,
        "0x" + "ab" * 21,
        "0x" + "gg" * 20,
        " 0x" + "ab" * 20,
        "0x" + "ab" * 19 + "  ",
        "0x" + "ab " * 13 + "a",
        b"\x01" * 19,
        b"\x01" * 21,
        "",
    ],
)
def test_what_is_not_an_address_is_refused(bad: str | bytes) -> None:
    assert not is_address(bad)
    with pytest.raises(ValueError, match="expected a 20-byte address"):
        checksum_address(bad)

"""Trading mechanisms the lab compares under identical order flow.

* :class:`~research.mechanisms.clob.ClobMechanism`: continuous limit order book,
  price-time priority (the lab's own baseline);
* :class:`~research.mechanisms.batch.BatchAuctionMechanism`: frequent batch
  auction, cleared by ``sealbatch.auction.batch.clear_market`` (the venue's code);
* :class:`~research.mechanisms.commit_reveal.CommitRevealMechanism`: the same
  auction behind ``sealbatch.auction.commit_reveal.CommitBook`` with signed commitments,
  reveals and bonds;
* :class:`~research.mechanisms.rfq.RfqDesk`: a sealed request-for-quote window
  for large orders, beside any of the above.
"""

from __future__ import annotations

from sealbatch.research.mechanisms.base import Mechanism, build_mechanism

__all__ = ["Mechanism", "build_mechanism"]

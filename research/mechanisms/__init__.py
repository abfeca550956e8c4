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

:func:`~research.mechanisms.registry.build_mechanism` builds the one a
scenario names. This package imports none of its modules (they import
``mechanisms.base``, so importing them here would be a cycle).
"""

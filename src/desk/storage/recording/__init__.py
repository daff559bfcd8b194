"""The market-data recorder: raw frames and normalised data to parquet, and its coverage report.

* :mod:`.config`: the ``recorder`` config section;
* :mod:`.schema`: the parquet schemas of every kind and the partition layout;
* :mod:`.files`: atomic part files, hourly compaction, listing;
* :mod:`.normalise`: a flush's buffered frames, REST replies and events -> one table per
  partition, with :mod:`.raw_rows` (raw frames, column-wise) and :mod:`.l2_rows` (book rows)
  fed by :mod:`.okx_l2`, :mod:`.binance_l2` and :mod:`.coinbase_l2` (each venue's wire);
* :mod:`.recorder`: :class:`Recorder`, the taps and the background writer;
* :mod:`.coverage`: ``desk data coverage``.
"""

"""Recorded OKX wire messages, verbatim from PROTOCOLS.md (the OKX docs' own examples)."""

BOOKS_SNAPSHOT = b"""{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot",
 "data":[{"asks":[["8476.98","415","0","13"],["8477","7","0","2"],["8477.34","85","0","1"],["8477.56","1","0","1"],
                  ["8505.84","8","0","1"],["8506.37","85","0","1"],["8506.49","2","0","1"],["8506.96","100","0","2"]],
          "bids":[["8476.97","256","0","12"],["8475.55","101","0","1"],["8475.54","100","0","1"],["8475.3","1","0","1"],
                  ["8447.32","6","0","1"],["8447.02","246","0","1"],["8446.83","24","0","1"],["8446","95","0","3"]],
          "ts":"1597026383085","checksum":0,"prevSeqId":-1,"seqId":123456}]}"""

TRADES = b"""{"arg":{"channel":"trades","instId":"BTC-USDT"},
 "data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy",
          "ts":"1630048897897","count":"3","source":"0","seqId":1234}]}"""

TICKERS = b"""{"arg":{"channel":"tickers","instId":"BTC-USDT"},
 "data":[{"instType":"SPOT","instId":"BTC-USDT","last":"9999.99","lastSz":"0.1","askPx":"9999.99","askSz":"11",
          "bidPx":"8888.88","bidSz":"5","open24h":"9000","high24h":"10000","low24h":"8888.88",
          "volCcy24h":"2222","vol24h":"2222","sodUtc0":"2222","sodUtc8":"2222","ts":"1597026383085"}]}"""

BBO_TBT = b"""{"arg":{"channel":"bbo-tbt","instId":"BCH-USDT-SWAP"},
 "data":[{"asks":[["111.06","55154","0","2"]],"bids":[["111.05","57745","0","2"]],"ts":"1670324386802","seqId":363996337}]}"""

SUBSCRIBE_ACK = (
    b'{"id": "1512", "event": "subscribe", '
    b'"arg": {"channel": "books", "instId": "BTC-USDT"}, "connId": "a4d3ae55"}'
)

ERROR = (
    b'{"id": "1512", "event": "error", "code": "60012",\n'
    b' "msg": "Invalid request: {\\"op\\": \\"subscribe\\", \\"argss\\":[{ \\"channel\\" : '
    b'\\"books\\", \\"instId\\" : \\"BTC-USD-191227\\"}]}", "connId": "a4d3ae55"}'
)

NOTICE = (
    b'{"event":"notice","code":"64008","msg":"The connection will soon be closed for a '
    b'service upgrade. Please reconnect.","connId":"a4d3ae55"}'
)

# REST (PROTOCOLS.md A.7; the books reply as in the OKX docs)

INSTRUMENTS = b"""{"code":"0","msg":"","data":[{"instType":"SPOT","instId":"BTC-USDT","instIdCode":1000000000,"baseCcy":"BTC","quoteCcy":"USDT",
  "settleCcy":"","ctVal":"","ctMult":"","ctValCcy":"","ctType":"","tickSz":"0.1","lotSz":"0.00000001","minSz":"0.00001",
  "maxLmtSz":"9999999999","maxMktSz":"","maxLmtAmt":"1000000","maxMktAmt":"1000000","state":"live","ruleType":"normal",
  "listTime":"1606468572000","expTime":"","lever":"10","groupId":"1","upcChg":[{"param":"tickSz","newValue":"0.0001","effTime":"1704876947000"}]}]}"""  # noqa: E501

REST_BOOK = (
    b'{"code":"0","msg":"","data":[{"asks":[["41006.8","0.60038921","0","1"]],'
    b'"bids":[["41006.3","0.30178218","0","2"]],"ts":"1629966436396","seqId":3008233640}]}'
)

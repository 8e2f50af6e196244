"""The Python HTTP floor: a raw ASGI app with orjson, no validation, no log (SHIPYARD_BENCH_MODEL)."""

import os

import joblib
import numpy as np
import orjson

MODEL = joblib.load(os.environ["SHIPYARD_BENCH_MODEL"])
HEADERS = [(b"content-type", b"application/json")]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if scope["path"] == "/ping":
        answer = b"{}"
    else:
        rows = np.array(orjson.loads(body)["rows"], dtype=np.float64)
        answer = orjson.dumps(
            {"probabilities": MODEL.predict_proba(rows)}, option=orjson.OPT_SERIALIZE_NUMPY
        )
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": answer})

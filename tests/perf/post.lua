-- wrk script: POST a small non-streaming completion (overhead-bound with a fast mocker).
wrk.method = "POST"
wrk.body = '{"model":"mock-model","prompt":"hello world, this is a benchmark","max_tokens":8}'
wrk.headers["Content-Type"] = "application/json"

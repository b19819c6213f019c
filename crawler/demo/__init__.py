"""The offline demo: a local multi-origin web server and the bundled sample site it serves."""

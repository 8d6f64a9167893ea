@cb45edb798466a08e3c2391b25a75ded0ed2a6e54803d2158d3334734387cc07"Ú“ºÿ¿˚›Ì*5
node-1http://127.0.0.1:20182*	qwen3:32b*qwen3:8b*5
node-2http://127.0.0.1:20183*	qwen3:32b*qwen3:8b2Q
	qwen3-32b
	qwen3-32b	qwen3:32b
qwen3-8bqwen3:8b	qwen3-32b*qwen3-32b:1:
x-turnout-userà'‡ß ‡‘
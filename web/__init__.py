"""The HTML and WebSocket edge: a room per screen (live, orders, tracking, configuration, network,
performance, operators). Thin: parse and authorize, call one service or selector, render."""

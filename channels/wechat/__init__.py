"""WeChat channels: Official Account (公众号) and WeCom 微信客服."""

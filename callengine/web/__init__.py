"""The aiohttp server: health now; console, API and AML endpoints later."""

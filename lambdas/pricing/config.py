"""Names the stack and the price refresh share (environment variables, metrics)."""

ENV_PRICE_REGION = "PRICE_REGION"  # whose prices (default: the function's own region, AWS_REGION)
ENV_PRICE_LIST_ENDPOINT = "PRICE_LIST_ENDPOINT_REGION"  # config priceListEndpointRegion
UNUSABLE_METRIC = "PriceRefreshUnusable"  # 1 when a refresh left the current list in place (empty or refused)
LINES_METRIC = "PriceListLines"  # usable lines the refresh read

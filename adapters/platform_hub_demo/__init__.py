"""The demo city: mock business systems (住基, 税務, 児童手当, 就学援助) built on platform_hub_sdk, and the
flows that run the 児童手当 scenario through a hub."""

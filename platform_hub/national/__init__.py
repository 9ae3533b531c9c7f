"""The hub's client adapters to the national systems: the city's 中間サーバー (``chukan.ChukanServer``)
and 住基ネット (``juki_net.JukiNet``). Their wire format lives in these modules only, so a vendor whose
中間サーバー speaks the real (non-public) external interface swaps them without touching the rest."""

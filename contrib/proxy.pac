// proxy.pac: send WeCom API traffic through the wwgate explicit proxy
// (listen[].mode: explicit), everything else direct.  Serve it to devices
// by WPAD, MDM (macOS/iOS "Proxy PAC URL", Windows "Use setup script",
// Android "Proxy auto-config") or a browser policy.
//
// Replace gateway.corp.example:3128 with the explicit listener's address.
// Hosts sent here but listed in neither intercept.hosts nor
// passthrough.hosts are refused (403) when "default: refuse", so keep this
// list and the gateway's host classes in step.
function FindProxyForURL(url, host) {
	host = host.toLowerCase();
	if (host === "qyapi.weixin.qq.com" ||
	    dnsDomainIs(host, ".work.weixin.qq.com") ||
	    dnsDomainIs(host, ".qq.com"))
		return "PROXY gateway.corp.example:3128";
	return "DIRECT";
}

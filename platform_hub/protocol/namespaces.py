"""The XML namespaces of the linkage protocol."""

LK = "urn:platform-hub:linkage:1"  # the hub's messages and their headers
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"  # SOAP 1.1
XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP_HTTP = "http://schemas.xmlsoap.org/soap/http"

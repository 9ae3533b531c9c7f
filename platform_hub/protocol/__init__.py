"""The linkage protocol: namespaces, errors, hardened XML, interface specs, the XSDs and WSDL derived
from them, the compiled catalog and the SOAP envelope. Every domain and the SDK build on it; it
imports none of them."""

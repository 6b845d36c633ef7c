module wsdeck

go 1.26

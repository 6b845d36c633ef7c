module wsdeck/bench/exec

go 1.26.0

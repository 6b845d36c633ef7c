module wsdeck/e2e

go 1.26.0

require (
	github.com/chromedp/cdproto v0.159.0
	github.com/chromedp/chromedp v0.23.0
	golang.org/x/crypto v0.58.0
	wsdeck v0.0.0-00010101000000-000000000000
)

require (
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/kevinburke/ssh_config v1.6.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace wsdeck => ../

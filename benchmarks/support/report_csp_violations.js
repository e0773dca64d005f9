// Installed in a page before its own scripts (Playwright's add_init_script): each
// Content-Security-Policy violation the page reports goes to the test through
// window.__reportCspViolation, a function the test exposes (expose_function); the browser tests
// fail when any was reported.
window.addEventListener(
  "securitypolicyviolation",
  (event) => {
    window.__reportCspViolation({
      page: location.href,
      directive: event.effectiveDirective,
      blocked: event.blockedURI,
      source: event.sourceFile,
      line: event.lineNumber,
      sample: event.sample,
    });
  },
  { capture: true },
);

"""The dashboard: the loop seen in a browser, served by `mw server` at `/`.

Pages are rendered on the server (Jinja2, autoescape on, no `|safe` on anything a
user wrote) and readable without JavaScript. Charts are drawn on the server as
inline SVG (`charts.py`): nothing is fetched at run time, nothing ships but this
package, they print and work offline, and a chart's hover values are SVG `<title>`s
the browser shows without a script. Long series are downsampled on the server to at
most `MAX_POINTS` per series, keeping each bucket's minimum and maximum, so a spike
survives and a 100,000-step series costs a few kilobytes. The one script
(`static/dashboard.js`, served from this package, allowed by the CSP as 'self'
only) adds what helps and nothing a page needs: live refresh of monitoring pages.
"""

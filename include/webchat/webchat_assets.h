#ifndef PARLEY_WEBCHAT_ASSETS_H
#define PARLEY_WEBCHAT_ASSETS_H
/*
 * The embeddable chat widget (src/widget/widget.js) and its demo page
 * (src/widget/demo.html), compiled into the binary by
 * src/webchat/webchat_assets_data.S so that serving them needs no file at run time.
 *
 *   GET /webchat/v1/widget.js            the script, cacheable, with an ETag
 *   GET /webchat/v1/demo?widget=ID       a shop page embedding the widget
 *
 * The pure helpers the handlers are made of are static in
 * src/webchat/webchat_assets.c; its unit test includes that file to call them.
 */
#include <event2/http.h>
#include <stddef.h>

struct app;

void webchat_assets_handle_widget_js(struct app *app, struct evhttp_request *req);
void webchat_assets_handle_demo(struct app *app, struct evhttp_request *req);

#endif

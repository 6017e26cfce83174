from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path
from django.views.defaults import page_not_found
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from carriers.views import carrier_webhook
from infra import metrics
from integrations.onfleet_api import onfleet_api
from integrations.views import shop_webhook
from web.configuration import views as configuration
from web.driver import api as driver_api
from web.driver import views as driver
from web.imports import views as imports
from web.live import views as live
from web.network import views as network
from web.operators import views as operators
from web.orders import views as orders
from web.performance import views as performance
from web.shops import views as shops
from web.tracking import views as tracking
from web.welcome import views as welcome

urlpatterns = [
    path("", live.dashboard, name="dashboard"),
    path("live/state/", live.live_state, name="live-state"),
    path("live/kpis/", live.kpis_partial, name="live-kpis"),
    path("live/carriers/", live.carriers_partial, name="live-carriers"),
    path("live/orders/", live.orders_partial, name="live-orders"),
    path("live/orders/bulk/", live.orders_bulk, name="live-orders-bulk"),
    path("live/exceptions/", live.exceptions_partial, name="live-exceptions"),
    path("live/decisions/<int:pk>/undo/", orders.decision_undo_action, name="live-decision-undo"),
    path("decisions/<int:pk>/snapshot.json", orders.decision_snapshot, name="decision-snapshot"),
    path("live/decisions/<int:pk>/progress/", orders.decision_progress, name="live-decision-progress"),
    path("live/decisions/<int:pk>/<str:action>/", orders.decision_action, name="live-decision"),
    path("live/exceptions/<int:pk>/<str:action>/", orders.exception_hold, name="live-exception-hold"),
    path("live/activity/", live.activity_partial, name="live-activity"),
    path("driver/", driver.driver_home, name="driver"),
    path("driver/orders/<str:ref>/<str:action>/", driver.driver_action, name="driver-action"),
    path("driver/api/actions/", driver_api.driver_api_action, name="driver-api-action"),
    path("driver/api/positions/", driver_api.driver_api_positions, name="driver-api-positions"),
    path("driver/api/shift/", driver_api.driver_api_shift, name="driver-api-shift"),
    path("driver/api/scan/", driver_api.driver_api_scan, name="driver-api-scan"),
    path("driver/api/messages/", driver_api.driver_api_message, name="driver-api-message"),
    path("driver/api/away/", driver_api.driver_api_away, name="driver-api-away"),
    path("driver/messages/", driver.driver_message, name="driver-message"),
    path("driver/shift/<str:action>/", driver.driver_shift_action, name="driver-shift"),
    path("driver/sw.js", driver.driver_service_worker, name="driver-sw"),
    path("driver/manifest.webmanifest", driver.driver_manifest, name="driver-manifest"),
    path("orders/import/", imports.import_page, name="order-import"),
    path("orders/import/template.csv", imports.import_template, name="order-import-template"),
    path("orders/<str:ref>/", orders.order_page, name="order-page"),
    path("carriers/<str:code>/", orders.carrier_page, name="carrier-page"),
    path("carriers/<str:code>/reprocess/", orders.carrier_reprocess, name="carrier-reprocess"),
    path("proof/<int:pk>/", orders.proof_file, name="proof-file"),
    path("vehicles/<str:code>/", orders.vehicle_page, name="vehicle-page"),
    path("vehicles/<str:code>/messages/", orders.vehicle_message, name="vehicle-messages"),
    path("dead-letters/", operators.dead_letters_page, name="dead-letters"),
    path("performance/", performance.performance_page, name="performance"),
    path("performance/export/<str:table>.csv", performance.performance_export, name="performance-export"),
    path("performance/<str:kind>/<str:code>/", performance.scorecard_page, name="scorecard"),
    path("welcome/", welcome.welcome, name="welcome"),
    path("welcome/sample-network.xlsx", welcome.sample_network, name="welcome-sample-network"),
    path("welcome/test-day.csv", welcome.sample_orders, name="welcome-sample-orders"),
    path("welcome/plan/", welcome.plan_now, name="welcome-plan"),
    path("settings/", configuration.settings_home, name="settings"),
    path("settings/service-levels/<str:level>/", configuration.rule_edit, name="settings-rule"),
    path("settings/service-levels/<str:level>/history/", configuration.rule_history, name="settings-rule-history"),
    path("settings/policy/", configuration.policy_edit, name="settings-policy"),
    path("settings/policy/history/", configuration.policy_history, name="settings-policy-history"),
    path("settings/scheduled/<int:pk>/cancel/", configuration.scheduled_cancel, name="settings-scheduled-cancel"),
    path("settings/users/", configuration.users_page, name="settings-users"),
    path("settings/costs/", configuration.costs_page, name="settings-costs"),
    path("settings/travel/", configuration.travel_page, name="settings-travel"),
    path("settings/travel/<int:pk>/history/", configuration.travel_history, name="settings-travel-history"),
    path("settings/costs/rates/<int:pk>/history/", configuration.rate_history, name="settings-rate-history"),
    path("settings/costs/zones/<int:pk>/history/", configuration.zone_history, name="settings-zone-history"),
    path("settings/costs/vans/<int:pk>/history/", configuration.van_cost_history, name="settings-van-history"),
    path("settings/network/", network.network_home, name="network"),
    path("settings/network/import/", network.network_import, name="network-import"),
    path("settings/network/templates/<str:kind>.csv", network.network_template, name="network-template"),
    path("settings/network/export.xlsx", network.network_export, name="network-export"),
    path("settings/network/export/<str:kind>.csv", network.network_export, name="network-export-kind"),
    path("settings/network/<str:kind>/", network.network_list, name="network-list"),
    path("settings/network/<str:kind>/add/", network.network_edit, name="network-add"),
    path("settings/network/<str:kind>/<int:pk>/", network.network_edit, name="network-edit"),
    path("settings/shops/", shops.shops_page, name="settings-shops"),
    path("settings/shops/<int:shop>/", shops.shop_page, name="shop-page"),
    path("settings/templates/", configuration.templates_page, name="settings-templates"),
    path("settings/templates/<str:kind>/<str:channel>/", configuration.template_edit, name="settings-template"),
    path("settings/templates/<str:kind>/<str:channel>/history/", configuration.template_history, name="settings-template-history"),
    path("track/<str:token>/", tracking.tracking_page, name="track"),
    path("exceptions/<int:pk>/calls/", orders.exception_calls, name="exception-calls"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", operators.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("dispatch.api.urls")),
    path("webhooks/carriers/<slug:org_slug>/<str:code>/", carrier_webhook, name="carrier-webhook"),
    path("webhooks/shops/<slug:org_slug>/<int:shop>/", shop_webhook, name="shop-webhook"),
    path("onfleet/api/v2/<path:rest>", onfleet_api, name="onfleet-api"),
]


def handler404(request, exception=None):
    """An API path that matches no route answers in the API's error shape; pages get Django's page."""
    if request.path.startswith("/api/"):

        return JsonResponse({"error": {"code": "not_found", "message": "No such endpoint or object."}}, status=404)

    return page_not_found(request, exception)

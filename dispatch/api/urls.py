from django.urls import path

from . import schema, views  # noqa: F401  (schema registers the token auth scheme)

urlpatterns = [
    path("orders/", views.OrderListCreate.as_view(), name="api-orders"),
    path("orders/batch/", views.OrderBatchCreate.as_view(), name="api-orders-batch"),
    path("orders/import/", views.OrderImport.as_view(), name="api-orders-import"),
    path("orders/import/template.csv", views.OrderImportTemplate.as_view(), name="api-orders-import-template"),
    path("orders/<str:ref>/", views.OrderDetail.as_view(), name="api-order"),
    path("orders/<str:ref>/cancel/", views.OrderCancel.as_view(), name="api-order-cancel"),
    path("orders/<str:ref>/status/", views.OrderStatusUpdate.as_view(), name="api-order-status"),
    path("orders/<str:ref>/proof/", views.OrderProof.as_view(), name="api-order-proof"),
    path("vehicle-positions/", views.VehiclePositions.as_view(), name="api-positions"),
    path("vehicles/", views.VehicleList.as_view(), name="api-vehicles"),
    path("vehicles/<str:code>/status/", views.VehicleStatus.as_view(), name="api-vehicle-status"),
    path("vehicles/<str:code>/manifest/", views.VehicleManifest.as_view(), name="api-vehicle-manifest"),
    path("drivers/<str:code>/status/", views.DriverStatus.as_view(), name="api-driver-status"),
    path("carrier-events/", views.CarrierEvents.as_view(), name="api-carrier-events"),
    path("carriers/<str:code>/availability/", views.CarrierAvailability.as_view(), name="api-carrier-availability"),
]

urlpatterns += [
    path("exceptions/", views.ExceptionList.as_view(), name="api-exceptions"),
    path("decisions/<int:pk>/approve/", views.DecisionApprove.as_view(), name="api-decision-approve"),
    path("decisions/<int:pk>/reject/", views.DecisionReject.as_view(), name="api-decision-reject"),
    path("decisions/<int:pk>/override/", views.DecisionOverride.as_view(), name="api-decision-override"),
]

urlpatterns += [
    path("carriers/", views.CarrierList.as_view(), name="api-carriers"),
    path("webhook-subscriptions/", views.WebhookSubscriptions.as_view(), name="api-webhook-subscriptions"),
    path("webhook-deliveries/", views.WebhookDeliveries.as_view(), name="api-webhook-deliveries"),
    path("webhook-deliveries/<int:pk>/redeliver/", views.WebhookRedeliver.as_view(), name="api-webhook-redeliver"),
]
